/**
 * The evaluation's serving process: the system under test alone in its own process (the worker on
 * the in-memory queue, its live controller and its config store), driven over the IPC channel by
 * the client process (serving-client.ts), which offers the load and timestamps every answer. The
 * protocol is in serving-protocol.ts: one `capacity` job, or one `serve` session of `send`s ended
 * by `stop`; the process exits after either.
 *
 * Answers are forwarded once per turn of the event loop, so that the eight answers of a batch
 * cost one message rather than eight, and a batch's report follows its answers.
 */
import { readBundle } from '../../core/bundle/bundle-io';
import type { BatchReport, SinkEvent } from '../../gpu-worker';
import { resolveThreadLayout } from '../../core/inference/thread-layout';
import { splitThreadCpu, threadCpuMs } from '../thread-cpu';
import { measureCapacity } from './capacity';
import { layoutOf } from './settings';
import { liveApparate } from './policies';
import {
  servingCommandSchema,
  type Release,
  type ServingCommand,
  type ServingReply,
} from './serving-protocol';
import { startWorker, stopWorker, warmUp, type StartedWorker } from './worker-harness';

function reply(message: ServingReply): void {
  process.send?.(message);
}

/** Sends the last reply and exits once it has gone (the worker is stopped by then). */
function replyAndExit(message: ServingReply): void {
  process.send?.(message, () => process.exit(0));
}

function releaseOf(event: SinkEvent): Release {
  if (event.kind === 'error') {
    return {
      requestId: event.requestId,
      kind: 'error',
      classIndex: -1,
      configVersion: -1,
      code: event.error.code,
      message: event.error.message,
    };
  }
  return {
    requestId: event.requestId,
    kind: event.kind,
    classIndex: event.answer.classIndex,
    configVersion: event.answer.configVersion,
    releasedAtMs: event.answer.releasedAtMs,
  };
}

/** Holds answers until the end of this turn of the event loop, then sends them in one message. */
class ReleaseBatcher {
  private pending: Release[] = [];
  private scheduled = false;

  add(release: Release): void {
    this.pending.push(release);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    reply({ type: 'releases', releases: this.pending });
    this.pending = [];
  }
}

let started: StartedWorker | undefined;
let servedModel = '';
/** Per-thread CPU counters when the worker became ready, so that warm-up is not counted. */
let readyCpu: ReadonlyMap<number, number> | undefined;
/** Inference lanes the served worker runs, for the CPU split. */
let servedLanes = 1;
const releases = new ReleaseBatcher();

async function startServing(command: Extract<ServingCommand, { type: 'serve' }>): Promise<void> {
  servedModel = command.model;
  const layout = layoutOf(command.layout);
  servedLanes = resolveThreadLayout(layout, 'cpu').inferenceThreads;
  const controller =
    command.controller === undefined
      ? undefined
      : liveApparate(await readBundle(command.bundleDir), command.config, command.controller, servedLanes);
  started = await startWorker(command.bundleDir, command.model, command.config, command.configPollMs, layout);
  await warmUp(started, command.model, command.warmupInputs);
  const worker = started;
  worker.setListener((event) => releases.add(releaseOf(event)));
  worker.setOnBatch((report: BatchReport) => {
    releases.flush();
    reply({
      type: 'batch',
      requestIds: report.requests.map((held) => held.message.request.requestId),
      startedAtMs: report.startedAtMs,
      finalAtMs: Array.from(report.finalAtMs),
      paddedSize: report.paddedSize,
      configVersion: report.config.version,
    });
    const next = controller?.observe(report);
    if (next !== undefined) {
      worker.publish(next);
      reply({ type: 'published', version: next.version, rampIds: next.ramps.map((r) => r.id) });
    }
  });
  readyCpu = threadCpuMs();
  reply({ type: 'ready' });
}

/** The serving process's CPU since `ready`, split by thread, where /proc tells it. */
function cpuSinceReady(): Extract<ServingReply, { type: 'stopped' }>['cpu'] {
  if (readyCpu === undefined || readyCpu.size === 0) return undefined;
  return splitThreadCpu(readyCpu, threadCpuMs(), process.pid, servedLanes);
}

async function handle(command: ServingCommand): Promise<void> {
  switch (command.type) {
    case 'capacity': {
      const result = await measureCapacity(
        command.bundleDir,
        command.model,
        command.inputs,
        command.largestBatchSize,
        command.seconds,
        layoutOf(command.layout),
      );
      replyAndExit({ type: 'capacity', ...result });
      return;
    }
    case 'serve':
      await startServing(command);
      return;
    case 'send': {
      const worker = started;
      if (worker === undefined)
        throw new Error('send arrived before serve: start the worker with a serve command first');
      for (const request of command.requests) {
        void worker.queue
          .send({ ...request, model: servedModel, mode: 'async' })
          .catch((error: unknown) => fail(error));
      }
      return;
    }
    case 'stop': {
      releases.flush();
      const cpu = cpuSinceReady();
      if (started !== undefined) await stopWorker(started);
      replyAndExit({ type: 'stopped', ...(cpu === undefined ? {} : { cpu }) });
      return;
    }
  }
}

function fail(error: unknown): void {
  reply({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
}

// A client that goes away (finished, failed or killed) takes its serving process with it.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: unknown) => {
  const parsed = servingCommandSchema.safeParse(message);
  if (!parsed.success) {
    fail(new Error(`serving process: malformed command: ${parsed.error.message}`));
    return;
  }
  handle(parsed.data).catch(fail);
});
