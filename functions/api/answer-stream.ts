/**
 * The streamed answer: `POST /v1/models/{model}/infer` with `Accept: text/event-stream` (or
 * `application/x-ndjson`) gets one response that carries the early answer the moment the worker
 * releases it (event `early`, the same body as a sync answer) and then the full model's answer
 * with its agreement when the batch ends (event `final`), or an `error` event. A request that
 * exits nowhere gets only `final`. The stream ends after `final` or `error`.
 *
 * Answers come from the inbox where the transport pushes them, and from reads of the durable
 * record otherwise (the adaptive schedule) or as the pushed wait's fallback.
 */
import type { AnswerEvent } from '../../adapters/answers';
import type { ResultRecord } from '../../adapters/dynamo';
import type { AnswerInbox } from './answer-inbox';
import {
  fallbackReadIntervalMs,
  DEFAULT_READ_SCHEDULE,
  readIntervals,
  type ReadSchedule,
  type ResultReader,
} from './await-answer';
import type { ErrorBody, InferAnswer, StreamFinal } from './schemas';
import { earlyViewOfEvent, finalViewOfEvent, resultPath } from './views';

export type StreamFormat = 'sse' | 'ndjson';

export const STREAM_CONTENT_TYPES: Readonly<Record<StreamFormat, string>> = {
  sse: 'text/event-stream; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** The stream format an Accept header asks for, or undefined for a plain JSON answer. */
export function streamFormatOf(accept: string | undefined): StreamFormat | undefined {
  if (accept === undefined) return undefined;
  const types = accept.split(',').map((part) => part.split(';')[0]?.trim().toLowerCase());
  if (types.includes('text/event-stream')) return 'sse';
  if (types.includes('application/x-ndjson')) return 'ndjson';
  return undefined;
}

export type StreamEventName = 'early' | 'final' | 'error';

/** One event as its format writes it: an SSE event, or one JSON line with an `event` field. */
export function encodeStreamEvent(format: StreamFormat, name: StreamEventName, data: object): string {
  return format === 'sse'
    ? `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
    : `${JSON.stringify({ event: name, ...data })}\n`;
}

export interface StreamAnswersOptions {
  readonly requestId: string;
  readonly model: string;
  readonly results: ResultReader;
  readonly inbox?: Pick<AnswerInbox, 'next' | 'lossless'>;
  /** Epoch ms of the request's arrival (for `latencyMs.total`) and of its deadline. */
  readonly receivedAtMs: number;
  readonly untilMs: number;
  readonly nowMs: () => number;
  readonly emit: (name: StreamEventName, data: object) => void;
  /** @default DEFAULT_READ_SCHEDULE */
  readonly schedule?: ReadSchedule;
  /** @default DEFAULT_FALLBACK_READ_MS */
  readonly fallbackReadMs?: number;
  /** Where reads failed (the stream goes on to the deadline). */
  readonly onReadError?: (error: unknown) => void;
}

/**
 * Emits the request's early answer (if any) and its final answer or error, each once, in that
 * order, as soon as each is known; ends the stream with an `error` event at the deadline.
 */
export async function streamAnswers(options: StreamAnswersOptions): Promise<void> {
  const { requestId, model, emit, nowMs, inbox } = options;
  const intervals = readIntervals(options.schedule ?? DEFAULT_READ_SCHEDULE);
  const fallbackReadMs = fallbackReadIntervalMs(inbox, options.fallbackReadMs);
  const totalMs = (): number => Math.max(0, nowMs() - options.receivedAtMs);
  let sentEarly = false;
  let done = false;

  const early = (answer: Omit<InferAnswer, 'requestId' | 'model' | 'latencyMs'>, workerMs: number): void => {
    if (sentEarly || done) return;
    sentEarly = true;
    emit('early', { requestId, model, ...answer, latencyMs: { total: totalMs(), worker: workerMs } });
  };
  const final = (answer: Omit<StreamFinal, 'requestId' | 'model' | 'latencyMs'>, workerMs: number): void => {
    if (done) return;
    done = true;
    emit('final', { requestId, model, ...answer, latencyMs: { total: totalMs(), worker: workerMs } });
  };
  const error = (code: string, message: string): void => {
    if (done) return;
    done = true;
    const body: ErrorBody = { error: { code, message, requestId } };
    emit('error', body);
  };

  const fromEvent = (event: AnswerEvent): void => {
    if (event.kind === 'early') {
      const { latencyMs, ...view } = earlyViewOfEvent(event);
      early(view, latencyMs);
    } else if (event.kind === 'final') {
      const { latencyMs, ...view } = finalViewOfEvent(event);
      final(view, latencyMs);
    } else {
      error(event.code, event.message);
    }
  };
  const fromRecord = (record: ResultRecord): void => {
    if (record.early !== undefined && record.final === undefined) {
      const { latencyMs, label, confidence, exit, configVersion } = record.early;
      early({ label, confidence, exit, configVersion }, latencyMs);
    }
    if (record.final !== undefined) {
      const { latencyMs, label, confidence, configVersion, agreesWithEarly } = record.final;
      final(
        {
          label,
          confidence,
          ...(configVersion === undefined ? {} : { configVersion }),
          ...(agreesWithEarly === undefined ? {} : { agreesWithEarly }),
        },
        latencyMs,
      );
    } else if (record.error !== undefined) {
      error(record.error.code, record.error.message);
    }
  };
  const read = async (): Promise<void> => {
    try {
      const record = await options.results.get(requestId);
      if (record !== undefined) fromRecord(record);
    } catch (failure) {
      options.onReadError?.(failure);
    }
  };

  while (!done) {
    const leftMs = options.untilMs - nowMs();
    if (leftMs <= 0) {
      await read();
      error(
        'deadline_exceeded',
        `no final answer within the deadline; it may still come: GET ${resultPath(requestId)}`,
      );
      return;
    }
    if (inbox !== undefined) {
      const event = await inbox.next(Math.min(fallbackReadMs, leftMs));
      if (event !== undefined) fromEvent(event);
      else await read();
    } else {
      await read();
      if (!done)
        await new Promise((resolve) => setTimeout(resolve, Math.min(intervals.next().value, leftMs)));
    }
  }
}
