/**
 * POST /v1/models/{model}/infer: check the body (size, JSON, envelope, the model's own input
 * rules), mark the request accepted, queue it, then either answer 202 at once (async) or wait for
 * its answer up to the deadline (sync). Every refusal happens before anything is queued, so a bad
 * request never reaches a worker's batch, and each one says what was wrong and what is allowed.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { AnswerChannel, AnswerEvent } from '../../adapters/answers';
import type { ResultRecord, ResultStore } from '../../adapters/dynamo';
import type { InferenceRequest, RequestQueue } from '../../adapters/queue';
import type { BundleManifest } from '../../core/bundle/manifest';
import type { Route } from '../../core/fleet/task-dispatcher';
import { InputError } from '../../core/errors';
import { createInputValidator } from '../../core/inference/input-validation';
import type { BundleCatalog } from '../catalog/bundle-catalog';
import type { Admission, AdmissionControl } from './admission';
import { AnswerInbox } from './answer-inbox';
import { holdUntilAnswered } from './async-hold';
import { encodeStreamEvent, STREAM_CONTENT_TYPES, streamAnswers, streamFormatOf } from './answer-stream';
import { awaitAnswer, type ReadSchedule, type ResultReader } from './await-answer';
import {
  defaultApiErrorListener,
  errorResult,
  headerValue,
  jsonResult,
  messageOf,
  problem,
  type ApiErrorListener,
  type ApiHandler,
  type ResponseStream,
  type StreamingApiHandler,
  type ApiProblem,
} from './http';
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_SYNC_WAIT_MS,
  DEFAULT_ACCEPTED_GRACE_MS,
  DEFAULT_SEND_TIMEOUT_MS,
  MAX_IMAGE_BODY_BYTES,
  MAX_QUEUED_MESSAGE_BYTES,
} from './limits';
import { isImageMediaType, mediaTypeOf, parseImageBody } from './image-body';
import { parseJsonBody } from './request-body';
import { requestIdentity } from './request-id';
import { inferRequestSchema, type AcceptedView } from './schemas';
import { inferAnswerOfEvent, inferAnswerView, resultPath } from './views';
import { WriteBehind } from './write-behind';

/** Task-level dispatch: which variant serves a request that names a task. */
export interface TaskRouting {
  /** The route of a name: a task's chosen variant, a variant itself, or undefined for any other name. */
  route(name: string): Promise<Route | undefined>;
  /** The task names clients may use, for the unknown-model message. */
  tasks(): readonly string[];
}

export interface IngestDependencies {
  readonly catalog: BundleCatalog;
  /**
   * Clients may name a task instead of a model; the request then goes to the variant the plan's
   * weights choose, and its answer names that variant as its model. Without it only models are
   * served.
   */
  readonly routing?: TaskRouting;
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
  /**
   * Pushed answers (in-process or Redis). With it a synchronous request is woken by the worker's
   * release and its acceptance is recorded off the response's path; without it (AWS) the wait
   * reads the results table on `readSchedule`.
   */
  readonly answers?: Pick<AnswerChannel, 'subscribe' | 'lossless'>;
  /**
   * What a waiting request (sync or streamed) reads its record from, when it reads: the same
   * table, coalesced where many wait in one process (`BatchedReads`). @default results
   */
  readonly waitingReads?: ResultReader;
  /** When the sync wait reads the results table where nothing pushes. @default DEFAULT_READ_SCHEDULE */
  readonly readSchedule?: ReadSchedule;
  /**
   * Backpressure: refuses (429, Retry-After) a request, sync or async, the backlog cannot serve
   * within its deadline. Without it every request is queued.
   */
  readonly admission?: Pick<AdmissionControl, 'tryAdmit'>;
  /** Runs durable writes off the response's path. @default one with 3 attempts, reporting to `onError` */
  readonly writeBehind?: WriteBehind;
  /** Longest a send may take before the request gets 503, ms. @default DEFAULT_SEND_TIMEOUT_MS (5000) */
  readonly sendTimeoutMs?: number;
  /**
   * With pushed answers, how long a streamed request without an idempotency key may wait before
   * its acceptance is recorded; answered sooner, the worker's record of its answer is the only
   * write. (A plain sync request's acceptance is written only before a 504.)
   * @default DEFAULT_ACCEPTED_GRACE_MS (1000)
   */
  readonly acceptedGraceMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
  /** Ids of requests without an idempotency key. @default crypto.randomUUID */
  readonly newRequestId?: () => string;
  /** Failures that are ours (the client gets 5xx). @default one JSON line on stderr */
  readonly onError?: ApiErrorListener;
}

/** A request that passed every check and is ready to queue. */
interface Admitted {
  readonly model: string;
  readonly mode: 'sync' | 'async';
  /** Relative deadline, ms, and the absolute one, epoch ms. */
  readonly deadlineMs: number;
  readonly deadlineAtMs: number;
  readonly requestId: string;
  /** Whether the id came from the client's idempotency key. */
  readonly idempotent: boolean;
  /** The request's record as routing already read it (an idempotent task request), so it is read once. */
  readonly prior?: { readonly record: ResultRecord | undefined };
  readonly request: InferenceRequest;
  readonly queue: Pick<RequestQueue, 'send'>;
  readonly receivedAtMs: number;
}

type Step<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: ApiProblem };

/** The ingest side's two ways to answer: one JSON response, or a stream of answer events. */
export interface IngestHandlers {
  readonly handler: ApiHandler;
  /** For a request whose Accept header asks for `text/event-stream` or `application/x-ndjson`. */
  readonly stream: StreamingApiHandler;
}

/** Builds the ingest handler; the Lambda entry and the local server both call what this returns. */
export function createIngestHandler(deps: IngestDependencies): ApiHandler {
  return createIngestHandlers(deps).handler;
}

/** Builds both ingest handlers over the same checks, queue and answer channel. */
export function createIngestHandlers(deps: IngestDependencies): IngestHandlers {
  const nowMs = deps.nowMs ?? Date.now;
  const defaultDeadlineMs = deps.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
  const maxSyncWaitMs = deps.maxSyncWaitMs ?? DEFAULT_MAX_SYNC_WAIT_MS;
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxImageBodyBytes = Math.min(MAX_IMAGE_BODY_BYTES, maxBodyBytes);
  const sendTimeoutMs = deps.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  const acceptedGraceMs = deps.acceptedGraceMs ?? DEFAULT_ACCEPTED_GRACE_MS;
  const waitingReads: ResultReader = deps.waitingReads ?? deps.results;
  const onError = deps.onError ?? defaultApiErrorListener;
  const writeBehind =
    deps.writeBehind ??
    new WriteBehind({
      onFailure: (what, error, fields) => onError(what, { ...fields, error: messageOf(error) }),
    });
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

  /** The answer to a sync request from a pushed answer or error. */
  const pushedResult = (event: AnswerEvent, model: string, receivedAtMs: number): APIGatewayProxyResult => {
    if (event.kind === 'error') {
      return errorResult(
        problem(statusOfWorkerError(event.code), event.code, event.message, event.requestId),
      );
    }
    return jsonResult(200, inferAnswerOfEvent(event, model, Math.max(0, nowMs() - receivedAtMs)));
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

  /**
   * Everything before queueing: body, envelope, model, input, identity, queue, the queued message's
   * size. Returns the refusal's response, or the request ready to queue.
   */
  const admit = async (
    event: APIGatewayProxyEvent,
    receivedAtMs: number,
  ): Promise<APIGatewayProxyResult | Admitted> => {
    const named = event.pathParameters?.['model'] ?? '';

    const imageType = isImageMediaType(mediaTypeOf(event)) ? mediaTypeOf(event) : undefined;
    const body =
      imageType === undefined ? parseJsonBody(event, maxBodyBytes) : parseImageBody(event, maxImageBodyBytes);
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

    /** The model's own input rules: undefined when the inputs pass, else the refusal. */
    const refusedInput = async (model: string): Promise<APIGatewayProxyResult | undefined> => {
      const manifest = await lookUpModel(model);
      if (!manifest.ok) return errorResult(manifest.problem);
      const validated = validatorFor(manifest.value)(envelope.data.inputs);
      if (validated.ok) return undefined;
      const { message, fileReason } = validated.problem;
      const shown =
        imageType !== undefined && fileReason !== undefined
          ? `the ${imageType} body cannot be used: ${fileReason}`
          : `inputs: ${message}`;
      return errorResult(problem(422, 'invalid_input', shown));
    };

    // Chosen only once the envelope is valid, so refused requests do not move the weighted split.
    const route = await deps.routing?.route(named);
    let model = route?.variant ?? named;
    const refused = await refusedInput(model);
    if (refused !== undefined) return refused;

    const identity = requestIdentity(event, named, deps.newRequestId);
    if (!identity.ok) return errorResult(identity.problem);
    const { requestId } = identity;

    // A retry (same idempotency key) of a request naming a task stays with the variant it first went
    // to, so that two variants never both answer it.
    let prior: { readonly record: ResultRecord | undefined } | undefined;
    if (route?.task !== undefined && identity.idempotent) {
      prior = { record: await deps.results.get(requestId).catch(() => undefined) };
      const earlier = prior.record?.model;
      if (earlier !== undefined && earlier !== model && deps.queueFor(earlier) !== undefined) {
        const refusedThere = await refusedInput(earlier);
        if (refusedThere !== undefined) return refusedThere;
        model = earlier;
      }
    }

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
      deadlineAtMs,
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
    return {
      model,
      mode,
      deadlineMs,
      deadlineAtMs,
      requestId,
      idempotent: identity.idempotent,
      ...(prior === undefined ? {} : { prior }),
      request,
      queue,
      receivedAtMs,
    };
  };

  /** A retry (same idempotency key) of a request already answered: its record, else undefined. */
  const answeredBefore = async (admitted: Admitted): Promise<ResultRecord | undefined> => {
    if (!admitted.idempotent) return undefined;
    const existing =
      admitted.prior !== undefined
        ? admitted.prior.record
        : await deps.results.get(admitted.requestId).catch(() => undefined);
    return existing !== undefined && existing.status !== 'pending' ? existing : undefined;
  };

  /** 429 with Retry-After for a request the backlog cannot serve within its deadline. */
  const overloadedResult = (
    admitted: Admitted,
    refusal: Extract<Admission, { admitted: false }>,
  ): APIGatewayProxyResult =>
    errorResult({
      ...problem(
        429,
        'overloaded',
        `model ${admitted.model} is at capacity: ${refusal.ahead} requests are ahead of this one, about ` +
          `${Math.round(refusal.predictedWaitMs)} ms of work at ${refusal.ratePerSec.toFixed(1)} req/s, more than ` +
          `its deadline of ${admitted.deadlineMs} ms allows; retry after ${refusal.retryAfterS} s or send a longer deadline`,
      ),
      headers: { 'retry-after': String(refusal.retryAfterS) },
    });

  const acceptanceOf = (admitted: Admitted) => (): Promise<boolean> =>
    deps.results.putAccepted(admitted.requestId, {
      model: admitted.model,
      deadlineAtMs: admitted.deadlineAtMs,
    });

  /**
   * Records the acceptance, subscribes to pushed answers (sync with a channel) and queues the
   * request. A pushed wait needs the record only for its other readers (GET, idempotent retries),
   * so then the acceptance is written beside the wait, retried and counted on failure; and where
   * the id reaches the client only with the response (`idWithResponse`: a plain JSON answer), only
   * if the wait ends without an answer, before the 504 that names the id.
   */
  const queueRequest = async (
    admitted: Admitted,
    idWithResponse: boolean,
  ): Promise<Step<AnswerInbox | undefined>> => {
    const { requestId } = admitted;
    const pushed = admitted.mode === 'sync' && deps.answers !== undefined;
    const markAccepted = acceptanceOf(admitted);
    // Subscribed before the send, so an answer released at once cannot be missed.
    const inbox =
      pushed && deps.answers !== undefined ? await AnswerInbox.open(deps.answers, requestId) : undefined;
    if (pushed && !admitted.idempotent) {
      // Nobody else knows this id until a response names it, and the worker records the request
      // with its answer. A JSON response names it at the end, so only one without an answer (504)
      // needs the acceptance first; a stream names it when it opens, so it is written if the
      // answer is slow to come.
      if (!idWithResponse) {
        writeBehind.runLater(
          acceptedGraceMs,
          () => !inbox?.settled,
          'request not marked accepted',
          { requestId },
          markAccepted,
        );
      }
    } else if (pushed) {
      void writeBehind.run('request not marked accepted', { requestId }, markAccepted);
    } else {
      try {
        await markAccepted();
      } catch (error) {
        onError('request not marked accepted', { requestId, error: messageOf(error) });
        inbox?.close();
        return {
          ok: false,
          problem: problem(
            503,
            'results_unavailable',
            'the results table is unavailable, so the request was not queued; retry',
          ),
        };
      }
    }
    const sent = await send(admitted.request, admitted.queue);
    if (!sent.ok) {
      inbox?.close();
      return sent;
    }
    return { ok: true, value: inbox };
  };

  /**
   * Admission control: the admitted place (undefined when nothing controls admission), or the 429.
   */
  const backpressure = (
    admitted: Admitted,
  ): Extract<Admission, { admitted: true }> | undefined | APIGatewayProxyResult => {
    const admission = deps.admission?.tryAdmit(admitted.model, admitted.deadlineMs, admitted.mode);
    if (admission === undefined) return undefined;
    return admission.admitted ? admission : overloadedResult(admitted, admission);
  };

  /**
   * Queues an async request and answers 202; an admitted one keeps its place in the backlog until
   * its answer is pushed or its deadline passes (`async-hold.ts`).
   */
  const queueAsync = async (
    admitted: Admitted,
    slot: Extract<Admission, { admitted: true }> | undefined,
  ): Promise<APIGatewayProxyResult> => {
    const abandon =
      slot === undefined
        ? () => undefined
        : await holdUntilAnswered({
            answers: deps.answers,
            requestId: admitted.requestId,
            deadlineAtMs: admitted.deadlineAtMs,
            predictedWaitMs: slot.predictedWaitMs,
            release: slot.release,
            nowMs,
          });
    let queued: Step<AnswerInbox | undefined>;
    try {
      queued = await queueRequest(admitted, false);
    } catch (error) {
      abandon();
      throw error;
    }
    if (!queued.ok) {
      abandon();
      return errorResult(queued.problem);
    }
    return acceptedResult(admitted.requestId, admitted.model, admitted.deadlineAtMs);
  };

  const handle = async (
    event: APIGatewayProxyEvent,
    receivedAtMs: number,
  ): Promise<APIGatewayProxyResult> => {
    const admitted = await admit(event, receivedAtMs);
    if ('statusCode' in admitted) return admitted;
    const { requestId, model, mode, deadlineAtMs } = admitted;

    // A retry of a request that already has its answer gets that answer, and nothing is queued.
    const existing = await answeredBefore(admitted);
    if (existing !== undefined) {
      return mode === 'async'
        ? acceptedResult(requestId, model, existing.accepted?.deadlineAtMs ?? deadlineAtMs)
        : settledResult(existing, model, receivedAtMs);
    }

    const slot = backpressure(admitted);
    if (slot !== undefined && 'statusCode' in slot) return slot;
    if (mode === 'async') return queueAsync(admitted, slot);
    // Whether the wait ended with an answer: admission learns the backlog's drain rate from those.
    let answered = false;
    try {
      const queued = await queueRequest(admitted, true);
      if (!queued.ok) return errorResult(queued.problem);
      const inbox = queued.value;
      try {
        const outcome = await awaitAnswer({
          results: waitingReads,
          requestId,
          untilMs: deadlineAtMs,
          nowMs,
          ...(inbox === undefined ? {} : { inbox }),
          ...(deps.readSchedule === undefined ? {} : { schedule: deps.readSchedule }),
        });
        answered = outcome.kind === 'pushed' || outcome.kind === 'settled';
        if (outcome.kind === 'pushed') return pushedResult(outcome.event, model, receivedAtMs);
        if (outcome.kind === 'settled') return settledResult(outcome.record, model, receivedAtMs);
        if (inbox !== undefined && !admitted.idempotent) {
          // The 504 names the id: a GET that follows it must find the request pending.
          await writeBehind.run('request not marked accepted', { requestId }, acceptanceOf(admitted));
        }
        return timedOutResult(outcome.readFailure, requestId, admitted.deadlineMs);
      } finally {
        inbox?.close();
      }
    } finally {
      slot?.release(answered);
    }
  };

  /** 503 when the last read failed, else 504: the request may still be answered later. */
  const timedOutResult = (
    readFailure: unknown,
    requestId: string,
    deadlineMs: number,
  ): APIGatewayProxyResult => {
    if (readFailure !== undefined) {
      onError('results unreadable during sync wait', { requestId, error: messageOf(readFailure) });
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
      const tasks = deps.routing?.tasks() ?? [];
      return {
        ok: false,
        problem: problem(
          404,
          'unknown_model',
          `model ${JSON.stringify(model)} is not served here; served models: ${served.join(', ') || 'none'}` +
            (tasks.length > 0 ? `; tasks: ${tasks.join(', ')}` : ''),
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

  /**
   * The streamed answer (see `answer-stream.ts`): every refusal is a plain JSON response, as for a
   * sync request; once the request is queued the response opens and carries its events.
   */
  const handleStream = async (
    event: APIGatewayProxyEvent,
    out: ResponseStream,
    receivedAtMs: number,
  ): Promise<APIGatewayProxyResult | undefined> => {
    const format = streamFormatOf(headerValue(event, 'accept')) ?? 'sse';
    const admitted = await admit(event, receivedAtMs);
    if ('statusCode' in admitted) return admitted;
    const { requestId, model } = admitted;
    if (admitted.mode === 'async') {
      return errorResult(
        problem(
          400,
          'invalid_request',
          'mode: an async request is answered 202 at once and cannot stream; send it as sync to stream its answers',
        ),
      );
    }
    const existing = await answeredBefore(admitted);
    const slot = existing === undefined ? backpressure(admitted) : undefined;
    if (slot !== undefined && 'statusCode' in slot) return slot;
    let inbox: AnswerInbox | undefined;
    try {
      if (existing === undefined) {
        const queued = await queueRequest(admitted, false);
        if (!queued.ok) return errorResult(queued.problem);
        inbox = queued.value;
      }
      out.open(200, {
        'content-type': STREAM_CONTENT_TYPES[format],
        'cache-control': 'no-store',
        'x-request-id': requestId,
      });
      await streamAnswers({
        requestId,
        model,
        results: waitingReads,
        ...(inbox === undefined ? {} : { inbox }),
        receivedAtMs,
        untilMs: admitted.deadlineAtMs,
        nowMs,
        emit: (name, data) => out.write(encodeStreamEvent(format, name, data)),
        ...(deps.readSchedule === undefined ? {} : { schedule: deps.readSchedule }),
        onReadError: (error) =>
          onError('results unreadable during stream', { requestId, error: messageOf(error) }),
      });
      out.end();
      return undefined;
    } finally {
      inbox?.close();
      slot?.release(inbox?.settled ?? true);
    }
  };

  const internalError = (error: unknown): APIGatewayProxyResult => {
    onError('ingest failed', { error: messageOf(error) });
    return errorResult(
      problem(500, 'internal_error', 'the request failed on our side; retry, or report it if it persists'),
    );
  };

  return {
    handler: async (event) => {
      const receivedAtMs = nowMs();
      try {
        return await handle(event, receivedAtMs);
      } catch (error) {
        return internalError(error);
      }
    },
    stream: async (event, out) => {
      const receivedAtMs = nowMs();
      let opened = false;
      const tracked: ResponseStream = {
        open: (status, headers) => {
          opened = true;
          out.open(status, headers);
        },
        write: (text) => out.write(text),
        end: () => out.end(),
      };
      try {
        return await handleStream(event, tracked, receivedAtMs);
      } catch (error) {
        if (!opened) return internalError(error);
        onError('ingest stream failed', { error: messageOf(error) });
        out.end();
        return undefined;
      }
    },
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
