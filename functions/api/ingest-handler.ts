/**
 * POST /v1/models/{model}/infer: check the body (size, JSON, envelope, the model's own input
 * rules), mark the request accepted, queue it, then either answer 202 at once (async) or wait for
 * its answer up to the deadline (sync). Every refusal happens before anything is queued, so a bad
 * request never reaches a worker's batch, and each one says what was wrong and what is allowed.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { ResultRecord, ResultStore } from '../../adapters/dynamo/result-store';
import type { InferenceRequest, RequestQueue } from '../../adapters/queue/request-queue';
import type { BundleManifest } from '../../core/bundle/manifest';
import { InputError } from '../../core/errors';
import { createInputValidator } from '../../core/inference/input-validation';
import type { BundleCatalog } from '../catalog/bundle-catalog';
import { awaitAnswer } from './await-answer';
import {
  defaultApiErrorListener,
  errorResult,
  jsonResult,
  messageOf,
  problem,
  type ApiErrorListener,
  type ApiHandler,
  type ApiProblem,
} from './http';
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_SYNC_WAIT_MS,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_SEND_TIMEOUT_MS,
  MAX_QUEUED_MESSAGE_BYTES,
} from './limits';
import { parseJsonBody } from './request-body';
import { requestIdentity } from './request-id';
import { inferRequestSchema, type AcceptedView } from './schemas';
import { inferAnswerView, resultPath } from './views';

export interface IngestDependencies {
  readonly catalog: BundleCatalog;
  /** The request queue of a served model; undefined when it has none (the request gets 503). */
  readonly queueFor: (model: string) => Pick<RequestQueue, 'send'> | undefined;
  /** Marks requests accepted, records a failed send, and is read by the sync wait. */
  readonly results: Pick<ResultStore, 'get' | 'putAccepted' | 'putError'>;
  /** Deadline of a request that names none, ms. @default DEFAULT_DEADLINE_MS (5000) */
  readonly defaultDeadlineMs?: number;
  /**
   * Longest deadline a sync request may name, ms; longer ones must be async.
   * @default DEFAULT_MAX_SYNC_WAIT_MS (25000, inside API Gateway's 29 s)
   */
  readonly maxSyncWaitMs?: number;
  /** @default DEFAULT_MAX_BODY_BYTES (256 KiB) */
  readonly maxBodyBytes?: number;
  /** How often the sync wait reads the results table, ms. @default DEFAULT_POLL_INTERVAL_MS (20) */
  readonly pollIntervalMs?: number;
  /** Longest a send may take before the request gets 503, ms. @default DEFAULT_SEND_TIMEOUT_MS (5000) */
  readonly sendTimeoutMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
  /** Ids of requests without an idempotency key. @default crypto.randomUUID */
  readonly newRequestId?: () => string;
  /** Failures that are ours (the client gets 5xx). @default one JSON line on stderr */
  readonly onError?: ApiErrorListener;
}

type Step<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: ApiProblem };

/** Builds the ingest handler; the Lambda entry and the local server both call what this returns. */
export function createIngestHandler(deps: IngestDependencies): ApiHandler {
  const nowMs = deps.nowMs ?? Date.now;
  const defaultDeadlineMs = deps.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
  const maxSyncWaitMs = deps.maxSyncWaitMs ?? DEFAULT_MAX_SYNC_WAIT_MS;
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const sendTimeoutMs = deps.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  const onError = deps.onError ?? defaultApiErrorListener;
  const validators = new WeakMap<BundleManifest, ReturnType<typeof createInputValidator>>();

  const validatorFor = (manifest: BundleManifest): ReturnType<typeof createInputValidator> => {
    let validate = validators.get(manifest);
    if (validate === undefined) {
      validate = createInputValidator(manifest.model.spec);
      validators.set(manifest, validate);
    }
    return validate;
  };

  /** The answer to a sync request whose record is settled: 200, or the error's status. */
  const settledResult = (
    record: ResultRecord,
    model: string,
    receivedAtMs: number,
  ): APIGatewayProxyResult => {
    const answer = inferAnswerView(record, model, Math.max(0, nowMs() - receivedAtMs));
    if (answer !== undefined) return jsonResult(200, answer);
    const error = record.error ?? { code: 'internal_error', message: 'the request ended without an answer' };
    return errorResult(problem(statusOfWorkerError(error.code), error.code, error.message, record.requestId));
  };

  const send = async (request: InferenceRequest, queue: Pick<RequestQueue, 'send'>): Promise<Step<void>> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        queue.send(request),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the queue did not take the request within ${sendTimeoutMs} ms`)),
            sendTimeoutMs,
          );
        }),
      ]);
      return { ok: true, value: undefined };
    } catch (error) {
      const refused = error instanceof InputError;
      if (!refused) onError('request not queued', { requestId: request.requestId, error: messageOf(error) });
      const failure = refused
        ? problem(422, 'invalid_input', `the request cannot be queued: ${error.message}`, request.requestId)
        : problem(
            503,
            'queue_unavailable',
            'the request queue is unavailable, so the request was not queued; retry after a short wait',
            request.requestId,
          );
      await deps.results
        .putError(request.requestId, { code: failure.code, message: failure.message })
        .catch(() => undefined);
      return { ok: false, problem: failure };
    } finally {
      clearTimeout(timer);
    }
  };

  const handle = async (
    event: APIGatewayProxyEvent,
    receivedAtMs: number,
  ): Promise<APIGatewayProxyResult> => {
    const model = event.pathParameters?.['model'] ?? '';

    const body = parseJsonBody(event, maxBodyBytes);
    if (!body.ok) return errorResult(body.problem);
    const envelope = inferRequestSchema.safeParse(body.value);
    if (!envelope.success) {
      const code = envelope.error.issues.some((issue) => issue.path[0] === 'deadlineMs')
        ? 'invalid_deadline'
        : 'invalid_request';
      // Every envelope message names its field, so they are joined as they are.
      return errorResult(problem(400, code, envelope.error.issues.map((issue) => issue.message).join('; ')));
    }
    const mode = envelope.data.mode ?? 'sync';
    const deadlineMs = envelope.data.deadlineMs ?? defaultDeadlineMs;
    if (mode === 'sync' && deadlineMs > maxSyncWaitMs) {
      return errorResult(
        problem(
          400,
          'invalid_deadline',
          `deadlineMs: a sync request may wait at most ${maxSyncWaitMs} ms; got ${deadlineMs}. ` +
            'Send it with "mode": "async" for a longer deadline, then GET its result.',
        ),
      );
    }

    const manifest = await lookUpModel(model);
    if (!manifest.ok) return errorResult(manifest.problem);
    const validated = validatorFor(manifest.value)(envelope.data.inputs);
    if (!validated.ok)
      return errorResult(problem(422, 'invalid_input', `inputs: ${validated.problem.message}`));

    const identity = requestIdentity(event, model, deps.newRequestId);
    if (!identity.ok) return errorResult(identity.problem);
    const { requestId } = identity;

    const queue = deps.queueFor(model);
    if (queue === undefined) {
      onError('no queue for model', { model });
      return errorResult(
        problem(503, 'queue_unavailable', `no request queue is configured for model ${model}`),
      );
    }

    const deadlineAtMs = receivedAtMs + deadlineMs;
    const request: InferenceRequest = {
      requestId,
      model,
      enqueuedAtMs: nowMs(),
      deadlineMs: deadlineAtMs,
      input: envelope.data.inputs,
      mode,
    };
    const queuedBytes = Buffer.byteLength(JSON.stringify(request), 'utf8');
    if (queuedBytes > MAX_QUEUED_MESSAGE_BYTES) {
      return errorResult(
        problem(
          413,
          'body_too_large',
          `the queued request would be ${queuedBytes} bytes; at most ${MAX_QUEUED_MESSAGE_BYTES} bytes fit on the queue`,
        ),
      );
    }

    if (identity.idempotent) {
      // A retry of a request that already has its answer gets that answer, and nothing is queued.
      const existing = await deps.results.get(requestId).catch(() => undefined);
      if (existing !== undefined && existing.status !== 'pending') {
        return mode === 'async'
          ? acceptedResult(requestId, model, existing.accepted?.deadlineAtMs ?? deadlineAtMs)
          : settledResult(existing, model, receivedAtMs);
      }
    }

    try {
      await deps.results.putAccepted(requestId, { model, deadlineAtMs });
    } catch (error) {
      onError('request not marked accepted', { requestId, error: messageOf(error) });
      return errorResult(
        problem(
          503,
          'results_unavailable',
          'the results table is unavailable, so the request was not queued; retry',
        ),
      );
    }
    const sent = await send(request, queue);
    if (!sent.ok) return errorResult(sent.problem);

    if (mode === 'async') return acceptedResult(requestId, model, deadlineAtMs);

    const outcome = await awaitAnswer({
      results: deps.results,
      requestId,
      untilMs: deadlineAtMs,
      pollIntervalMs,
      nowMs,
    });
    if (outcome.kind === 'settled') return settledResult(outcome.record, model, receivedAtMs);
    if (outcome.readFailure !== undefined) {
      onError('results unreadable during sync wait', { requestId, error: messageOf(outcome.readFailure) });
      return errorResult(
        problem(
          503,
          'results_unavailable',
          `the results table could not be read before the deadline; GET ${resultPath(requestId)} later`,
          requestId,
        ),
      );
    }
    return errorResult(
      problem(
        504,
        'deadline_exceeded',
        `no answer within the deadline of ${deadlineMs} ms; the request may still be answered: GET ${resultPath(requestId)}`,
        requestId,
      ),
    );
  };

  const lookUpModel = async (model: string): Promise<Step<BundleManifest>> => {
    try {
      const manifest = await deps.catalog.manifest(model);
      if (manifest !== undefined) return { ok: true, value: manifest };
      const served = await deps.catalog.models();
      return {
        ok: false,
        problem: problem(
          404,
          'unknown_model',
          `model ${JSON.stringify(model)} is not served here; served models: ${served.join(', ') || 'none'}`,
        ),
      };
    } catch (error) {
      onError('model catalog unavailable', { model, error: messageOf(error) });
      return {
        ok: false,
        problem: problem(
          503,
          'model_catalog_unavailable',
          `the description of model ${model} cannot be read now; retry`,
        ),
      };
    }
  };

  return async (event) => {
    const receivedAtMs = nowMs();
    try {
      return await handle(event, receivedAtMs);
    } catch (error) {
      onError('ingest failed', { error: messageOf(error) });
      return errorResult(
        problem(500, 'internal_error', 'the request failed on our side; retry, or report it if it persists'),
      );
    }
  };
}

/** 202 with where to find the answer. */
function acceptedResult(requestId: string, model: string, deadlineAtMs: number): APIGatewayProxyResult {
  const body: AcceptedView = {
    requestId,
    model,
    status: 'pending',
    deadlineAt: new Date(deadlineAtMs).toISOString(),
    links: { result: resultPath(requestId) },
  };
  return jsonResult(202, body, { location: resultPath(requestId) });
}

/** The HTTP status of an error a worker recorded. */
export function statusOfWorkerError(code: string): number {
  switch (code) {
    case 'deadline_exceeded':
      return 504;
    case 'invalid_input':
      return 422;
    case 'queue_unavailable':
      return 503;
    default:
      return 502;
  }
}
