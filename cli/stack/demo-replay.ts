/**
 * Replays a fixture serving stream against a running stack through its public HTTP API, as a
 * client would: each request is sent at its arrival time as a streamed sync request, which gets
 * the early answer the moment it is released and the final one when its batch ends. Each answer
 * carries the worker's own time (enqueue to release), and the client times each event from the
 * request's planned send time, so the report shows both and the API's overhead between them.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleAt, type DataSplit } from '../../core/data/dataset';
import type { Progress } from '../progress';
import type { DemoRecord } from './demo-report';

export interface ReplayOptions {
  readonly url: string;
  readonly model: string;
  /** Names the phase in progress bars. */
  readonly label: string;
  readonly serving: DataSplit;
  /** The first stream index served (the inputs before it are the bootstrap part). */
  readonly firstServed: number;
  readonly classes: readonly string[];
  readonly arrivalsMs: ArrayLike<number>;
  /** Relative deadline sent with each request, ms. */
  readonly deadlineMs: number;
  /** Added to each request's deadline: how long past it the client still waits for the final answer, ms. */
  readonly settleTimeoutMs: number;
  readonly progress: Progress;
}

export interface ReplayResult {
  readonly records: DemoRecord[];
  /** Requests that were refused, failed, or had no final answer in time. */
  readonly failed: number;
  readonly firstError?: string;
}

/** The body of request `i`: the image's pixels or the e-mail's text, as the API takes them. */
function inputsFor(serving: DataSplit, index: number): unknown {
  const sample = sampleAt(serving, index);
  return sample.kind === 'image' ? Array.from(sample.pixels) : sample.text;
}

/** Sends every request at its arrival time and collects the answers; see the file comment. */
export async function replayAgainstStack(options: ReplayOptions): Promise<ReplayResult> {
  const { url, model, serving, firstServed, arrivalsMs, progress } = options;
  const served = serving.count - firstServed;
  const total = arrivalsMs.length;
  const sends: Promise<DemoRecord | string>[] = [];
  const startedAt = performance.now();
  let answered = 0;
  for (let i = 0; i < total; i++) {
    const plannedAt = startedAt + (arrivalsMs[i] as number);
    const waitMs = plannedAt - performance.now();
    if (waitMs > 1) await sleep(waitMs);
    const index = firstServed + (i % served);
    const trueLabel = options.classes[serving.labels[index] as number] ?? String(serving.labels[index]);
    sends.push(
      streamOne(
        url,
        model,
        inputsFor(serving, index),
        options.deadlineMs + options.settleTimeoutMs,
        plannedAt,
      ).then((outcome) => {
        answered += 1;
        if (answered % 25 === 0) progress.update(`${model} ${options.label}: answers`, answered, total);
        return typeof outcome === 'string' ? outcome : { ...outcome, trueLabel };
      }),
    );
    if (i % 25 === 0) progress.update(`${model} ${options.label}: sending`, i, total);
  }
  const outcomes = await Promise.all(sends);
  progress.update(`${model} ${options.label}: answers`, total, total);
  const records = outcomes.filter((o): o is DemoRecord => typeof o !== 'string');
  const firstError = outcomes.find((o): o is string => typeof o === 'string');
  return {
    records,
    failed: total - records.length,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

interface StreamEventData {
  label?: string | number;
  latencyMs?: { worker?: number };
  error?: { code?: string; message?: string };
}

/**
 * One request as a streaming client: POST with `Accept: text/event-stream`, timing the early and
 * final events on this process's clock from the planned send time. Resolves the record, or a
 * one-line reason when the request got no final answer.
 */
function streamOne(
  url: string,
  model: string,
  inputs: unknown,
  deadlineMs: number,
  plannedAt: number,
): Promise<Omit<DemoRecord, 'trueLabel'> | string> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ inputs, deadlineMs: Math.min(deadlineMs, 25_000) });
    const req = httpRequest(
      `${url}/v1/models/${encodeURIComponent(model)}/infer`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        let buffer = '';
        let early: { clientMs: number; data: StreamEventData } | undefined;
        let final: { clientMs: number; data: StreamEventData } | undefined;
        let failure: string | undefined;
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const clientMs = performance.now() - plannedAt;
          buffer += chunk;
          if (response.statusCode !== 200) return;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const name = /^event: (.+)$/m.exec(frame)?.[1];
            const data = JSON.parse(/^data: (.+)$/m.exec(frame)?.[1] ?? '{}') as StreamEventData;
            if (name === 'early') early = { clientMs, data };
            else if (name === 'final') final = { clientMs, data };
            else failure = `${data.error?.code ?? 'error'}: ${data.error?.message ?? ''}`;
          }
        });
        response.on('end', () => {
          if (response.statusCode !== 200) {
            const parsed = (() => {
              try {
                return JSON.parse(buffer) as StreamEventData;
              } catch {
                return {};
              }
            })();
            resolve(`${response.statusCode} ${parsed.error?.code ?? ''}: ${parsed.error?.message ?? ''}`);
            return;
          }
          if (final === undefined) {
            resolve(failure ?? 'the stream ended without a final answer');
            return;
          }
          resolve({
            ...(early === undefined
              ? {}
              : {
                  earlyMs: early.data.latencyMs?.worker ?? Number.NaN,
                  earlyLabel: String(early.data.label),
                  clientEarlyMs: early.clientMs,
                }),
            finalMs: final.data.latencyMs?.worker ?? Number.NaN,
            finalLabel: String(final.data.label),
            clientFinalMs: final.clientMs,
          });
        });
        response.on('error', (error) => resolve(`stream failed: ${error.message}`));
      },
    );
    req.on('error', (error) => resolve(`send failed: ${error.message}`));
    req.end(body);
  });
}
