/**
 * The controller function's configuration: environment variables set by the CDK stack, read once
 * per cold start with the functions' environment reader (`../env.ts`), so a deployment with a
 * missing or malformed variable fails on its first invocation with a message naming the variable
 * and what it must hold, instead of publishing configs for the wrong model or table. The
 * constraint and the budget are checked against the limits of `core/control/limits.ts`.
 */
import { ENV } from '../../core/deployment/cloud-names';
import { ACCURACY_CONSTRAINT, RAMP_BUDGET } from '../../core/control/limits';
import {
  bundleVariables,
  configsTableVariable,
  exitLogsTableVariable,
  limitVariable,
  modelVariable,
  readEnvironment,
} from '../env';

const controllerVariables = {
  ...modelVariable,
  ...exitLogsTableVariable,
  ...configsTableVariable,
  ...bundleVariables,
  [ENV.accuracyConstraint]: limitVariable(ACCURACY_CONSTRAINT),
  [ENV.rampBudget]: limitVariable(RAMP_BUDGET),
};

/** The controller's settings, by meaning rather than by variable name. */
export interface ControllerEnv {
  readonly model: string;
  readonly exitLogsTable: string;
  readonly configsTable: string;
  readonly bundleBucket: string;
  /** Empty or ending in `/`; the manifest is `<prefix><model>/manifest.json`. */
  readonly bundlePrefix: string;
  /** Unset: the design's 0.99. */
  readonly accuracyConstraint?: number;
  /** Unset: the bundle manifest's budget. */
  readonly rampBudget?: number;
}

/**
 * Reads the controller's variables from `env`. Throws InputError naming every missing or bad
 * variable and what it must hold.
 */
export function readControllerEnv(env: Readonly<Record<string, string | undefined>>): ControllerEnv {
  const values = readEnvironment('controller', controllerVariables, env);
  const accuracyConstraint = values[ENV.accuracyConstraint];
  const rampBudget = values[ENV.rampBudget];
  return {
    model: values[ENV.model],
    exitLogsTable: values[ENV.exitLogsTable],
    configsTable: values[ENV.configsTable],
    bundleBucket: values[ENV.bundleBucket],
    bundlePrefix: values[ENV.bundlePrefix],
    ...(accuracyConstraint === undefined ? {} : { accuracyConstraint }),
    ...(rampBudget === undefined ? {} : { rampBudget }),
  };
}
