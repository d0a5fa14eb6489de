/**
 * Replays a fixture serving stream against a running stack through its public HTTP API, as a
 * client would: each request is sent asynchronously at its arrival time, then every answer is
 * read back with `GET /v1/requests/{id}`. Latencies are the worker's own figures (enqueue to
 * release), so the HTTP client's scheduling on this busy machine does not blur them.
 */
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
  /** Longest to wait for the last answers after the last send, ms. */
  readonly settleTimeoutMs: number;
  readonly progress: Progress;
}

export interface ReplayResult {
  readonly records: DemoRecord[];
  /** Requests that were refused, failed, or had no final answer in time. */
  readonly failed: number;
  readonly firstError?: string;
}

interface Sent {
  readonly requestId: string;
  readonly trueLabel: string;
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
  const sends: Promise<Sent | string>[] = [];
  const startedAt = performance.now();
  for (let i = 0; i < total; i++) {
    const waitMs = startedAt + (arrivalsMs[i] as number) - performance.now();
    if (waitMs > 1) await sleep(waitMs);
    const index = firstServed + (i % served);
    const trueLabel = options.classes[serving.labels[index] as number] ?? String(serving.labels[index]);
    sends.push(send(url, model, inputsFor(serving, index), options.deadlineMs, trueLabel));
    if (i % 25 === 0) progress.update(`${model} ${options.label}: sending`, i, total);
  }
  const outcomes = await Promise.all(sends);
  progress.update(`${model} ${options.label}: sending`, total, total);
  const accepted = outcomes.filter((o): o is Sent => typeof o !== 'string');
  let firstError = outcomes.find((o): o is string => typeof o === 'string');
  const records: DemoRecord[] = [];
  const pending = new Map(accepted.map((s) => [s.requestId, s]));
  const giveUpAt = performance.now() + options.settleTimeoutMs;
  while (pending.size > 0 && performance.now() < giveUpAt) {
    for (const sent of [...pending.values()]) {
      const status = await fetchStatus(url, sent.requestId);
      if (status === undefined) continue;
      if (status.status === 'error') {
        firstError ??= `${status.error?.code ?? 'error'}: ${status.error?.message ?? ''}`;
        pending.delete(sent.requestId);
      } else if (status.status === 'final' && status.final) {
        pending.delete(sent.requestId);
        records.push({
          ...(status.early
            ? { earlyMs: status.early.latencyMs, earlyLabel: String(status.early.label) }
            : {}),
          finalMs: status.final.latencyMs,
          finalLabel: String(status.final.label),
          trueLabel: sent.trueLabel,
        });
      }
    }
    progress.update(`${model} ${options.label}: answers`, accepted.length - pending.size, accepted.length);
    if (pending.size > 0) await sleep(200);
  }
  return {
    records,
    failed: total - records.length,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

async function send(
  url: string,
  model: string,
  inputs: unknown,
  deadlineMs: number,
  trueLabel: string,
): Promise<Sent | string> {
  try {
    const response = await fetch(`${url}/v1/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs, mode: 'async', deadlineMs }),
    });
    const body = (await response.json()) as { requestId?: string; error?: { code: string; message: string } };
    if (response.status !== 202 || typeof body.requestId !== 'string') {
      return `${response.status} ${body.error?.code ?? ''}: ${body.error?.message ?? ''}`;
    }
    return { requestId: body.requestId, trueLabel };
  } catch (error) {
    return `send failed: ${(error as Error).message}`;
  }
}

interface StatusBody {
  status: 'pending' | 'early' | 'final' | 'error';
  early?: { label: string | number; latencyMs: number };
  final?: { label: string | number; latencyMs: number };
  error?: { code: string; message: string };
}

async function fetchStatus(url: string, requestId: string): Promise<StatusBody | undefined> {
  try {
    const response = await fetch(`${url}/v1/requests/${encodeURIComponent(requestId)}`);
    if (response.status !== 200) return undefined;
    return (await response.json()) as StatusBody;
  } catch {
    return undefined;
  }
}
