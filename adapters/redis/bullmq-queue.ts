/**
 * The request queue on Redis through BullMQ, for local multi-process runs (`REDIS_URL`).
 *
 * BullMQ's own vocabulary maps onto the queue contract as follows:
 * - a message is a job; receiving fetches jobs by hand (`Worker#getNextJob`, no processor), each
 *   under a fresh lock token that doubles as the receipt;
 * - the visibility timeout is the lock duration: `extendVisibility` extends the lock, and a job whose
 *   lock lapses is moved back to wait by the stalled-job check this consumer runs (so one killed
 *   consumer's jobs come back through any other, within one check interval after the lapse);
 * - the receive count is the job's `attemptsStarted`; BullMQ itself fails a job fetched more than
 *   `maxStartedAttempts` (= maxReceives) times, and `release` fails one that used its last receive;
 * - the dead-letter queue is the queue's failed set (jobs are kept there, never removed);
 * - acknowledging completes the job, which removes it.
 *
 * The consumer side (a Worker and its two connections) opens on the first `receive`, so a process
 * that only sends holds one connection. Producers fail fast while Redis is down; the consumer
 * reconnects forever. Connection errors go to `onError`, never to an unhandled 'error' event.
 */
import { randomUUID } from 'node:crypto';
import { Queue, UnrecoverableError, Worker, type Job, type RedisOptions } from 'bullmq';
import { InputError } from '../../core/errors';
import {
  checkExtensionMs,
  checkReceiveArguments,
  decodeRequestData,
  defaultErrorListener,
  type DeliveryOptions,
  encodeRequestBody,
  type InferenceRequest,
  notHeldError,
  type QueueErrorListener,
  type ReceivedMessage,
  type RequestQueue,
  resolveDeliveryOptions,
} from '../queue';
import { resolveRedisUrl } from './redis-url';

/** The BullMQ job name every request is added under. */
export const REQUEST_JOB_NAME = 'inference-request';
/**
 * The longest one blocking wait on Redis lasts; longer waits are made of several. A blocked
 * connection cannot be closed gracefully until its wait ends, so this bounds how long `close`
 * takes while a receive is waiting, at the cost of one Redis call per slice while idle.
 */
const BLOCKING_SLICE_MS = 1000;
/**
 * How long `close` waits for a receive in flight before closing the consumer by force. A receive
 * ends within one blocking slice while Redis answers; when Redis is down it would wait for the
 * reconnect, and shutdown must not.
 */
const CLOSE_GRACE_MS = 3 * BLOCKING_SLICE_MS;

export interface BullMqQueueOptions extends DeliveryOptions {
  /** The BullMQ queue name; every producer and consumer of one queue uses the same name. */
  readonly name: string;
  /** A redis:// or rediss:// URL. @default process.env.REDIS_URL, else DEFAULT_REDIS_URL */
  readonly redisUrl?: string;
  /**
   * How often this consumer looks for jobs whose lock lapsed. A lapsed job comes back within one
   * interval after its visibility timeout.
   * @default half the visibility timeout
   */
  readonly stalledCheckIntervalMs?: number;
  /** Receives errors handled here rather than rejected. @default one JSON line on stderr */
  readonly onError?: QueueErrorListener;
}

type RequestJob = Job<unknown, null>;

export class BullMqRequestQueue implements RequestQueue {
  readonly kind = 'bullmq' as const;
  readonly name: string;
  private readonly visibilityTimeoutMs: number;
  private readonly maxReceives: number;
  private readonly stalledCheckIntervalMs: number;
  private readonly redisUrl: string;
  private readonly onError: QueueErrorListener;
  private readonly producer: Queue<unknown, null>;
  private consumer: Worker<unknown, null> | undefined;
  /** The job behind each delivery handed out, so that acting on it needs no extra round trip. */
  private readonly heldJobs = new WeakMap<ReceivedMessage, RequestJob>();
  /** Receives run one at a time: a Worker has one blocking connection to wait on. */
  private receiving: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /** Settles when close gives up on a receive in flight; BullMQ never settles it once forced shut. */
  private abandonReceive: () => void = () => undefined;
  private readonly receiveAbandoned = new Promise<ReceivedMessage[]>((resolve) => {
    this.abandonReceive = () => resolve([]);
  });

  constructor(options: BullMqQueueOptions) {
    const delivery = resolveDeliveryOptions(options);
    this.visibilityTimeoutMs = delivery.visibilityTimeoutMs;
    this.maxReceives = delivery.maxReceives;
    if (options.name.length === 0 || options.name.includes(':')) {
      throw new InputError(
        `BullMQ queue name must be non-empty and free of ':', got ${JSON.stringify(options.name)}`,
      );
    }
    this.name = options.name;
    this.stalledCheckIntervalMs =
      options.stalledCheckIntervalMs ?? Math.max(1, Math.round(this.visibilityTimeoutMs / 2));
    if (!Number.isSafeInteger(this.stalledCheckIntervalMs) || this.stalledCheckIntervalMs < 1) {
      throw new InputError(
        `stalledCheckIntervalMs must be a positive whole number of milliseconds, got ${this.stalledCheckIntervalMs}`,
      );
    }
    this.redisUrl = resolveRedisUrl(options.redisUrl);
    this.onError = options.onError ?? defaultErrorListener(this.kind, this.name);
    this.producer = new Queue<unknown, null>(this.name, {
      connection: this.connection({ enableOfflineQueue: false }),
      defaultJobOptions: { attempts: this.maxReceives, removeOnComplete: true, removeOnFail: false },
    });
    this.producer.on('error', this.onError);
  }

  async send(request: InferenceRequest): Promise<void> {
    this.assertOpen();
    const encoded = encodeRequestBody(request);
    await this.producer.add(REQUEST_JOB_NAME, encoded.request);
  }

  async receive(max: number, waitMs: number): Promise<ReceivedMessage[]> {
    checkReceiveArguments(max, waitMs);
    this.assertOpen();
    const received = this.receiving.then(() => this.fetch(max, waitMs));
    this.receiving = received.catch(() => undefined);
    return await Promise.race([received, this.receiveAbandoned]);
  }

  async ack(message: ReceivedMessage): Promise<void> {
    const { job, token } = await this.heldJob('acknowledge', message);
    await job.moveToCompleted(null, token, false);
  }

  async extendVisibility(message: ReceivedMessage, ms: number): Promise<void> {
    checkExtensionMs(ms);
    const { job, token } = await this.heldJob('extend the visibility of', message);
    const extended = await job.extendLock(token, Math.ceil(ms));
    if (extended !== 1) {
      throw notHeldError(
        'extend the visibility of',
        message,
        'its visibility timeout lapsed or it was received again',
      );
    }
  }

  async release(message: ReceivedMessage): Promise<void> {
    const { job, token } = await this.heldJob('release', message);
    if (message.receiveCount >= this.maxReceives) {
      await job.moveToFailed(
        new UnrecoverableError(
          `released after ${message.receiveCount} receives (maxReceives ${this.maxReceives})`,
        ),
        token,
        false,
      );
      return;
    }
    await job.moveToWait(token);
  }

  waiting(): Promise<number> {
    return this.producer.getWaitingCount();
  }

  async deadLettered(): Promise<InferenceRequest[]> {
    const requests: InferenceRequest[] = [];
    for (const job of await this.failedJobs()) {
      const decoded = decodeRequestData(job.data);
      if (decoded.ok) requests.push(decoded.request);
    }
    return requests;
  }

  /** Every dead-lettered job's data as JSON text, malformed bodies included. */
  async deadLetteredBodies(): Promise<string[]> {
    return (await this.failedJobs()).map((job) => JSON.stringify(job.data) ?? 'undefined');
  }

  /**
   * Lets a waiting receive return (within one blocking slice, with what it has), then closes the
   * consumer and the producer gracefully; by force if the receive has not ended within
   * CLOSE_GRACE_MS (Redis is down), in which case that receive returns empty. Jobs received and not
   * yet acknowledged come back later.
   */
  close(): Promise<void> {
    this.closing ??= this.closeConnections();
    return this.closing;
  }

  private async closeConnections(): Promise<void> {
    const receiveEnded = await settlesWithin(this.receiving, CLOSE_GRACE_MS);
    if (!receiveEnded) this.abandonReceive();
    try {
      await this.consumer?.close(!receiveEnded);
    } finally {
      await this.producer.close();
    }
  }

  /**
   * Fetches up to `max` jobs, blocking on Redis (in slices) for the first one only. BullMQ moves
   * one job to active per call; fetched one after another, a batch takes `max` round trips, and each
   * waits its turn on an event loop that is busiest exactly when the queue is long, so under load
   * the consumer falls behind the model and the backlog (and every answer's wait) grows. After the
   * first job the rest are fetched in waves of concurrent calls, doubling while every call of a
   * wave finds a job: a full batch takes about log2(max) round trips, and a nearly empty queue costs
   * no more calls than fetching one by one.
   */
  private async fetch(max: number, waitMs: number): Promise<ReceivedMessage[]> {
    const worker = await this.openConsumer();
    const deadline = Date.now() + waitMs;
    const received: ReceivedMessage[] = [];
    let first: RequestJob | undefined;
    let firstToken = '';
    while (first === undefined && this.closing === undefined) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      // getNextJob blocks for `drainDelay` seconds when the queue is empty and reads the option on
      // every call, so setting it before each call bounds this wait by what is left of waitMs.
      worker.opts.drainDelay = Math.min(remainingMs, BLOCKING_SLICE_MS) / 1000;
      firstToken = randomUUID();
      first = await worker.getNextJob(firstToken, { block: true });
    }
    if (first === undefined) {
      // waitMs ran out (or was 0): one last look without blocking.
      if (this.closing !== undefined) return received;
      firstToken = randomUUID();
      first = await worker.getNextJob(firstToken, { block: false });
      if (first === undefined) return received;
    }
    const firstMessage = await this.admit(first, firstToken);
    if (firstMessage !== undefined) received.push(firstMessage);
    let fetched = 1;
    let wave = 1;
    while (fetched < max && this.closing === undefined) {
      const size = Math.min(wave, max - fetched);
      const tokens = Array.from({ length: size }, () => randomUUID());
      const jobs = await Promise.allSettled(
        tokens.map((token) => worker.getNextJob(token, { block: false })),
      );
      let found = 0;
      let failure: unknown;
      for (const [i, job] of jobs.entries()) {
        if (job.status === 'rejected') {
          failure ??= job.reason;
          continue;
        }
        if (job.value === undefined) continue;
        found += 1;
        const message = await this.admit(job.value, tokens[i] as string);
        if (message !== undefined) received.push(message);
      }
      // Jobs already fetched are handed out even when a call of their wave failed; with nothing
      // to hand out, the failure is the receive's.
      if (failure !== undefined && received.length === 0) {
        throw failure instanceof Error ? failure : new Error('fetching a job failed', { cause: failure });
      }
      fetched += found;
      if (failure !== undefined || found < size) break;
      wave *= 2;
    }
    return received;
  }

  /** Turns a fetched job into a delivery, or dead-letters its body if it fails the schema. */
  private async admit(job: RequestJob, token: string): Promise<ReceivedMessage | undefined> {
    const decoded = decodeRequestData(job.data);
    if (!decoded.ok) {
      try {
        await job.moveToFailed(
          new UnrecoverableError(`body failed validation: ${decoded.reason}`),
          token,
          false,
        );
      } catch (error) {
        // It stays locked and comes back after the visibility timeout, to be tried again then.
        this.onError(new Error(`could not dead-letter malformed job ${job.id}`, { cause: error }));
      }
      return undefined;
    }
    const message: ReceivedMessage = Object.freeze({
      receipt: `${token}:${job.id}`,
      request: decoded.request,
      receiveCount: Math.max(1, job.attemptsStarted),
    });
    this.heldJobs.set(message, job);
    return message;
  }

  private async heldJob(
    action: string,
    message: ReceivedMessage,
  ): Promise<{ job: RequestJob; token: string }> {
    this.assertOpen();
    // The receipt is `token:jobId`; a copy of the delivery (not in heldJobs) costs one lookup.
    const separator = message.receipt.indexOf(':');
    const job =
      separator < 0
        ? undefined
        : (this.heldJobs.get(message) ?? (await this.producer.getJob(message.receipt.slice(separator + 1))));
    if (job === undefined) {
      throw notHeldError(action, message, 'it is no longer on the queue');
    }
    return { job, token: message.receipt.slice(0, separator) };
  }

  private async openConsumer(): Promise<Worker<unknown, null>> {
    if (this.consumer === undefined) {
      const worker = new Worker<unknown, null>(this.name, null, {
        connection: this.connection({ maxRetriesPerRequest: null }),
        autorun: false,
        lockDuration: this.visibilityTimeoutMs,
        stalledInterval: this.stalledCheckIntervalMs,
        // Receive counting is maxStartedAttempts' job; a stall alone must never fail a job earlier.
        maxStalledCount: this.maxReceives,
        maxStartedAttempts: this.maxReceives,
      });
      worker.on('error', this.onError);
      this.consumer = worker;
      await worker.startStalledCheckTimer();
    }
    return this.consumer;
  }

  private async failedJobs(): Promise<RequestJob[]> {
    this.assertOpen();
    return (await this.producer.getFailed(0, -1)).filter((job): job is RequestJob => job !== undefined);
  }

  private connection(extra: Partial<RedisOptions>): RedisOptions {
    return { url: this.redisUrl, ...extra };
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new Error(`request queue ${this.name} is closed`);
  }
}

/** Whether `promise` settles within `ms`; the timer is cleared either way, so it holds nothing open. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
