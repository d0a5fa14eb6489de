/**
 * The API functions' own variables, read with the functions' environment reader (`../env.ts`),
 * which also holds the variables they share with the controller (model, bundles, tables).
 */
import { ENV } from '../../core/deployment/cloud-names';
import { MAX_DEADLINE_MS, MIN_DEADLINE_MS } from './limits';
import { optionalNumber, requiredText } from '../env';

export const queueVariables = {
  [ENV.queueUrl]: requiredText('the SQS URL of the request queue'),
  [ENV.deadLetterQueueUrl]: requiredText("the SQS URL of the request queue's dead-letter queue"),
};

/** Unset: the API's own default deadline. */
export const deadlineVariable = {
  [ENV.defaultDeadlineMs]: optionalNumber(
    `a whole number of milliseconds from ${MIN_DEADLINE_MS} to ${MAX_DEADLINE_MS}`,
    (value) => Number.isInteger(value) && value >= MIN_DEADLINE_MS && value <= MAX_DEADLINE_MS,
  ),
};
