/**
 * The inference thread: the only place the worker's onnxruntime sessions live.
 *
 * onnxruntime-node's `session.run()` holds the event loop of the thread that calls it for the whole
 * run, so serving from the main thread would stall queue I/O, batching, early releases and logs for
 * every batch. Here, on a `worker_threads` thread of its own, it stalls nothing the main thread owns.
 *
 * Messages (see protocol.ts) are handled strictly in arrival order, one at a time: a batch never
 * overlaps another, and a config activation takes effect exactly between two batches. The one
 * exception is building the sessions of a new config, which proceeds beside that queue (yielding
 * between steps) so serving goes on while it is built. Failures are posted back, never thrown:
 * a bad batch or a bad config must not end the thread that serves every other batch.
 *
 * Started by `inference-thread.js` (which installs the TypeScript loader); use InferenceEngine.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { checkRampConfig } from '../../core/bundle/config-check';
import { checkFeeds } from './feed-check';
import { errorKind, type FromThread, type RampOutput, type ToThread } from './protocol';
import { ReleaseGate } from './release-gate';
import {
  buildServingChain,
  openServingModel,
  runServingChain,
  type ServingChain,
  type ServingModel,
} from './serving-chain';
import { messageOf } from '../../core/errors';

type Message<T extends ToThread['type']> = Extract<ToThread, { type: T }>;

/**
 * Handlers post their own failures; anything escaping them is a bug in this thread, so it ends the
 * thread loudly (the engine then fails every pending call) instead of leaving a queue stuck.
 */
function crash(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

class InferenceThread {
  private model: ServingModel | undefined;
  private current: ServingChain | undefined;
  /** Chains built for a swap and not yet activated, by swap id. */
  private readonly prepared = new Map<number, ServingChain>();
  /** Every message but prepare-config, in arrival order. */
  private serial: Promise<void> = Promise.resolve();
  /** Background builds, one after another. */
  private building: Promise<void> = Promise.resolve();
  private closing = false;

  constructor(private readonly port: MessagePort) {}

  receive(message: ToThread): void {
    if (message.type === 'prepare-config') {
      this.building = this.building.then(() => this.prepareConfig(message)).catch(crash);
    } else {
      this.serial = this.serial.then(() => this.handle(message)).catch(crash);
    }
  }

  private post(message: FromThread, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(message, transfer);
  }

  private async handle(message: Exclude<ToThread, Message<'prepare-config'>>): Promise<void> {
    switch (message.type) {
      case 'load':
        return this.load(message);
      case 'run':
        return this.run(message);
      case 'activate-config':
        return this.activate(message);
      case 'close':
        return this.close();
    }
  }

  private async load(message: Message<'load'>): Promise<void> {
    try {
      const model = await openServingModel(
        message.bundleDir,
        {
          executionProvider: message.executionProvider,
          intraOpThreads: message.intraOpThreads,
          // This thread does nothing but inference: each run may block it, and skipping the
          // event-loop turn the public API takes before every run saves it once per segment.
          blocking: true,
        },
        { exitTaps: message.exitTaps },
      );
      const config = checkRampConfig(message.config, model.candidates);
      this.current = await buildServingChain(model, config);
      this.model = model;
      const { manifest } = model.bundle;
      this.post({
        type: 'loaded',
        bundle: {
          modelName: manifest.model.name,
          candidates: model.candidates,
          classes: manifest.model.spec.classes,
          batchSizes: manifest.profile.batchSizes,
        },
        config,
        servedBy: this.current.mode,
      });
    } catch (error) {
      this.post({ type: 'load-failed', kind: errorKind(error), message: messageOf(error) });
    }
  }

  private async run(message: Message<'run'>): Promise<void> {
    const began = performance.now();
    const { batchId } = message;
    try {
      const { model, current } = this;
      if (!model || !current) throw new Error('no bundle is loaded on the inference thread');
      checkFeeds(message.feeds, message.rows, model.bundle.manifest.model.spec.inputs);
      const gate = new ReleaseGate(message.thresholds, message.rows);
      const held: RampOutput[] = [];
      let posted = 0;
      const result = await runServingChain(
        model,
        current,
        message.feeds,
        message.rows,
        (rampIndex, candidateId, probs) => {
          if (gate.releasesAny(rampIndex, probs)) {
            posted += 1;
            this.post({ type: 'ramp', batchId, rampIndex, candidateId, probs }, [
              probs.buffer as ArrayBuffer,
            ]);
          } else {
            held.push({ rampIndex, candidateId, probs });
          }
        },
      );
      const timings = {
        segmentMs: result.segmentMs,
        totalMs: performance.now() - began,
        servedBy: current.mode.kind,
        rampsPostedMidRun: posted,
      };
      this.post({ type: 'final', batchId, logits: result.logits, held, timings }, [
        result.logits.buffer as ArrayBuffer,
        ...held.map((output) => output.probs.buffer as ArrayBuffer),
      ]);
    } catch (error) {
      this.post({ type: 'error', batchId, kind: errorKind(error), message: messageOf(error) });
    }
  }

  private async prepareConfig(message: Message<'prepare-config'>): Promise<void> {
    const { swapId } = message;
    try {
      const model = this.model;
      if (!model || this.closing) throw new Error('the inference thread is closing or has no bundle loaded');
      const config = checkRampConfig(message.config, model.candidates);
      const chain = await buildServingChain(model, config, { yieldBetweenSteps: true });
      if (this.closing) {
        await chain.release();
        throw new Error('the inference thread closed while the config was being built');
      }
      this.prepared.set(swapId, chain);
      this.post({ type: 'config-prepared', swapId });
    } catch (error) {
      this.post({ type: 'config-failed', swapId, kind: errorKind(error), message: messageOf(error) });
    }
  }

  private async activate(message: Message<'activate-config'>): Promise<void> {
    const chain = this.prepared.get(message.swapId);
    this.prepared.delete(message.swapId);
    if (!chain) {
      const text = `config swap ${message.swapId} was never prepared`;
      this.post({ type: 'config-failed', swapId: message.swapId, kind: 'internal', message: text });
      return;
    }
    const retired = this.current;
    this.current = chain;
    // Every batch queued before the activation has finished: nothing runs on the retired sessions.
    await retired?.release().catch(() => undefined);
    this.post({ type: 'config-activated', swapId: message.swapId });
  }

  private async close(): Promise<void> {
    this.closing = true;
    await this.building;
    const chains = [...this.prepared.values(), ...(this.current ? [this.current] : [])];
    this.prepared.clear();
    this.current = undefined;
    this.model = undefined;
    await Promise.all(chains.map((chain) => chain.release().catch(() => undefined)));
    this.post({ type: 'closed' });
  }
}

if (!parentPort) {
  throw new Error('the inference thread runs only as a worker thread; start it through InferenceEngine');
}
const port = parentPort;
const thread = new InferenceThread(port);
port.on('message', (message: ToThread) => thread.receive(message));
