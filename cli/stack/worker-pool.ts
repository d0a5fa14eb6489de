/**
 * The local stack's pool of workers: per variant, as many in-process `ApparateWorker`s as the plan
 * says, all consuming that variant's queue. Workers run in the stack's process whichever queue the
 * stack uses: the in-process queue cannot be shared with another process, and with BullMQ a worker
 * in this process does exactly what a worker process would (the same class, the same queue
 * protocol); separate worker processes are what `apparate worker` and the AWS fleet run.
 *
 * Resizing starts the new workers first and measures each one's load time (bundle read, session
 * open, warm-up: until it can receive). Scale-in drains: a stopped worker finishes the batch in
 * flight and acknowledges it, and hands the requests it held but had not started back to the queue,
 * where the variant's other workers take them; so nothing is lost and nothing is answered twice.
 * A variant's last worker stops only once its queue is empty (its owner moves the traffic away
 * first), so requests never wait in a queue nobody serves.
 */
import type { RequestQueue } from '../../adapters/queue';
import type { ApparateWorker, Logger } from '../../gpu-worker';
import { messageOf } from '../../gpu-worker';

export interface WorkerPoolOptions {
  /** Starts one worker of `variant` (rejects when its bundle cannot be served). */
  readonly start: (variant: string, workerId: string) => Promise<ApparateWorker>;
  readonly queueFor: (variant: string) => Pick<RequestQueue, 'waiting'> | undefined;
  readonly logger: Logger;
  /** How long a variant's last worker waits for its queue to empty before it stops anyway, ms. @default 30000 */
  readonly emptyQueueTimeoutMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** One change of the pool's size, for reports and plots. */
export interface PoolEvent {
  readonly atMs: number;
  readonly variant: string;
  readonly kind: 'started' | 'stopped' | 'failed';
  /** The variant's running workers after the change. */
  readonly workers: number;
  /** Load time of a started worker, ms. */
  readonly loadMs?: number;
  readonly error?: string;
}

export interface ResizeReport {
  readonly started: number;
  readonly stopped: number;
  /** Variants whose workers failed to start, with why. */
  readonly failed: ReadonlyMap<string, string>;
}

export class WorkerPool {
  private readonly running = new Map<string, ApparateWorker[]>();
  private readonly retired: ApparateWorker[] = [];
  private readonly loadMs = new Map<string, number[]>();
  private readonly history: PoolEvent[] = [];
  private readonly nowMs: () => number;
  private serial: Promise<unknown> = Promise.resolve();
  private nextId = 0;

  constructor(private readonly options: WorkerPoolOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Running workers of `variant`. */
  workersOf(variant: string): readonly ApparateWorker[] {
    return this.running.get(variant) ?? [];
  }

  /** Every running worker. */
  all(): ApparateWorker[] {
    return [...this.running.values()].flat();
  }

  /** Running workers per variant (variants with none left out). */
  sizes(): Map<string, number> {
    return new Map(
      [...this.running].filter(([, workers]) => workers.length > 0).map(([v, w]) => [v, w.length]),
    );
  }

  /** Requests served by every worker the pool ever ran, stopped ones included. */
  served(): number {
    return [...this.all(), ...this.retired].reduce((sum, worker) => sum + worker.counts.served, 0);
  }

  /** Every start, stop and failure so far, oldest first. */
  events(): readonly PoolEvent[] {
    return this.history;
  }

  /** Measured load times per variant, ms, in start order. */
  loadTimes(): ReadonlyMap<string, readonly number[]> {
    return this.loadMs;
  }

  /**
   * Starts the workers `target` adds (all at once); variants absent from `target` are left as they
   * are. Resizes run one after another.
   */
  grow(target: ReadonlyMap<string, number>): Promise<ResizeReport> {
    return this.exclusive(() => this.growNow(target));
  }

  /**
   * Stops the workers beyond `target`, each draining; a variant's last worker waits for its queue
   * to empty first. Variants absent from `target` are left as they are.
   */
  shrink(target: ReadonlyMap<string, number>): Promise<ResizeReport> {
    return this.exclusive(() => this.shrinkNow(target));
  }

  /** Grows then shrinks to `target`. */
  async resize(target: ReadonlyMap<string, number>): Promise<ResizeReport> {
    const grown = await this.grow(target);
    const shrunk = await this.shrink(target);
    return { started: grown.started, stopped: shrunk.stopped, failed: grown.failed };
  }

  /** Stops every worker (draining), without waiting for queues: the stack is closing. */
  stop(): Promise<void> {
    return this.exclusive(async () => {
      const all = [...this.running].flatMap(([variant, workers]) =>
        workers.map((w) => [variant, w] as const),
      );
      this.running.clear();
      await Promise.all(all.map(([, worker]) => worker.stop()));
      this.retired.push(...all.map(([, worker]) => worker));
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.serial.then(work);
    this.serial = result.catch(() => undefined);
    return result;
  }

  private async growNow(target: ReadonlyMap<string, number>): Promise<ResizeReport> {
    const failed = new Map<string, string>();
    const starts: Promise<void>[] = [];
    for (const [variant, wanted] of target) {
      const missing = wanted - this.workersOf(variant).length;
      for (let i = 0; i < missing; i++) starts.push(this.startOne(variant, failed));
    }
    await Promise.all(starts);
    return { started: starts.length - [...failed.keys()].length, stopped: 0, failed };
  }

  private async startOne(variant: string, failed: Map<string, string>): Promise<void> {
    const workerId = `${variant}-${this.nextId++}`;
    const began = performance.now();
    try {
      const worker = await this.options.start(variant, workerId);
      const loadMs = performance.now() - began;
      const workers = [...this.workersOf(variant), worker];
      this.running.set(variant, workers);
      this.loadMs.set(variant, [...(this.loadMs.get(variant) ?? []), loadMs]);
      this.record({ variant, kind: 'started', workers: workers.length, loadMs });
      this.options.logger.log('info', 'pool worker started', {
        variant,
        workerId,
        loadMs,
        workers: workers.length,
      });
    } catch (error) {
      failed.set(variant, messageOf(error));
      this.record({
        variant,
        kind: 'failed',
        workers: this.workersOf(variant).length,
        error: messageOf(error),
      });
      this.options.logger.log('error', 'pool worker failed to start', {
        variant,
        workerId,
        error: messageOf(error),
      });
    }
  }

  private async shrinkNow(target: ReadonlyMap<string, number>): Promise<ResizeReport> {
    const stops: Promise<void>[] = [];
    for (const [variant, workers] of this.running) {
      const wanted = target.get(variant);
      if (wanted === undefined || workers.length <= wanted) continue;
      // The newest go first: the oldest have served longest and are warm.
      const leaving = workers.slice(wanted);
      if (wanted === 0) await this.waitForEmptyQueue(variant);
      this.running.set(variant, workers.slice(0, wanted));
      stops.push(
        ...leaving.map(async (worker) => {
          await worker.stop();
          this.retired.push(worker);
        }),
      );
      this.record({ variant, kind: 'stopped', workers: wanted });
      this.options.logger.log('info', 'pool workers stopping', {
        variant,
        stopping: leaving.length,
        workers: wanted,
      });
    }
    await Promise.all(stops);
    return { started: 0, stopped: stops.length, failed: new Map() };
  }

  /**
   * Waits until nothing waits in the variant's queue and its workers hold nothing, twice in a row
   * a poll apart (a request routed just before the traffic moved may still be on its way).
   */
  private async waitForEmptyQueue(variant: string): Promise<void> {
    const queue = this.options.queueFor(variant);
    if (queue?.waiting === undefined) return;
    const giveUpAt = this.nowMs() + (this.options.emptyQueueTimeoutMs ?? 30_000);
    let emptyPolls = 0;
    while (emptyPolls < 2) {
      const held = this.workersOf(variant).reduce((sum, worker) => sum + worker.queued, 0);
      emptyPolls = (await queue.waiting()) === 0 && held === 0 ? emptyPolls + 1 : 0;
      if (this.nowMs() > giveUpAt) {
        this.options.logger.log('warn', 'last worker stops with requests queued', { variant });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private record(event: Omit<PoolEvent, 'atMs'>): void {
    this.history.push({ atMs: this.nowMs(), ...event });
  }
}
