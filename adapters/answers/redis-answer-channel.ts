/**
 * The answer channel of a BullMQ deployment: Redis pub/sub on one channel per namespace (the
 * queue's name). A worker publishes each answer the moment it releases it; every API process
 * keeps one subscriber connection, subscribed once, and hands each message to the waiters of its
 * request id, so a waiting request wakes within a Redis round trip of the release. Messages are
 * checked against the event schema on receipt; a malformed one is reported and dropped (the waiter
 * still has the durable record to fall back on).
 *
 * Connections go through BullMQ's own connection class, so no second Redis client library is needed.
 */
import { RedisConnection, type RedisClient } from 'bullmq';
import { InputError } from '../../core/errors';
import { resolveRedisUrl } from '../redis';
import {
  answerEventSchema,
  type AnswerChannel,
  type AnswerEvent,
  type AnswerListener,
  type Unsubscribe,
} from './answer-channel';

/**
 * The pub/sub commands of the client BullMQ connects with (ioredis); BullMQ's own client type
 * leaves them out, so they are checked at run time once, on connecting.
 */
interface PubSubClient {
  publish(channel: string, message: string): Promise<number>;
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
}

function pubSubClient(client: RedisClient): PubSubClient {
  const candidate = client as unknown as Partial<PubSubClient>;
  if (typeof candidate.publish !== 'function' || typeof candidate.subscribe !== 'function') {
    throw new Error('the Redis client BullMQ connected with has no pub/sub commands');
  }
  return candidate as PubSubClient;
}

/** Where answer channels live unless told otherwise: `<prefix>:<namespace>`. */
export const DEFAULT_ANSWER_CHANNEL_PREFIX = 'apparate:answers';

export interface RedisAnswerChannelOptions {
  /** Separates deployments sharing one Redis; use the BullMQ queue name. */
  readonly namespace: string;
  /** A redis:// or rediss:// URL. @default process.env.REDIS_URL, else DEFAULT_REDIS_URL */
  readonly redisUrl?: string;
  /** @default DEFAULT_ANSWER_CHANNEL_PREFIX */
  readonly channelPrefix?: string;
  /** Connection errors (retried) and malformed messages (dropped). @default one JSON line on stderr */
  readonly onError?: (error: Error) => void;
}

export class RedisAnswerChannel implements AnswerChannel {
  readonly kind = 'redis' as const;
  /** Pub/sub delivers at most once: a message published while the subscriber reconnects is lost. */
  readonly lossless = false;
  readonly channel: string;
  private readonly url: string;
  private readonly onError: (error: Error) => void;
  private readonly listeners = new Map<string, Set<AnswerListener>>();
  private publisher: { connection: RedisConnection; client: Promise<PubSubClient> } | undefined;
  private subscriber: { connection: RedisConnection; ready: Promise<void> } | undefined;
  private closed = false;

  constructor(options: RedisAnswerChannelOptions) {
    if (options.namespace.length === 0 || options.namespace.includes(':')) {
      throw new InputError(
        `answer channel namespace must be non-empty and free of ':', got ${JSON.stringify(options.namespace)}`,
      );
    }
    this.url = resolveRedisUrl(options.redisUrl);
    this.channel = `${options.channelPrefix ?? DEFAULT_ANSWER_CHANNEL_PREFIX}:${options.namespace}`;
    this.onError =
      options.onError ??
      ((error: Error) =>
        process.stderr.write(
          `${JSON.stringify({ level: 'warn', message: 'answer channel error', error: error.message })}\n`,
        ));
  }

  async publish(event: AnswerEvent): Promise<void> {
    const checked = answerEventSchema.parse(event);
    this.publisher ??= this.connect();
    const client = await this.publisher.client;
    await client.publish(this.channel, JSON.stringify(checked));
  }

  async subscribe(requestId: string, listener: AnswerListener): Promise<Unsubscribe> {
    let listeners = this.listeners.get(requestId);
    if (listeners === undefined) {
      listeners = new Set();
      this.listeners.set(requestId, listeners);
    }
    listeners.add(listener);
    const unsubscribe = (): void => {
      const current = this.listeners.get(requestId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(requestId);
    };
    try {
      await this.subscribed();
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await Promise.all([this.publisher?.connection.close(), this.subscriber?.connection.close()]);
  }

  private connect(): { connection: RedisConnection; client: Promise<PubSubClient> } {
    if (this.closed) throw new Error('the answer channel is closed');
    const connection = new RedisConnection(
      { url: this.url, maxRetriesPerRequest: 3, enableOfflineQueue: true },
      { shared: false, blocking: false, skipVersionCheck: true },
    );
    connection.on('error', this.onError);
    return { connection, client: connection.client.then(pubSubClient) };
  }

  /** The one subscriber connection, subscribed to the namespace's channel (made on first use). */
  private subscribed(): Promise<void> {
    if (this.subscriber === undefined) {
      const { connection, client } = this.connect();
      const ready = client.then(async (redis) => {
        redis.on('message', (channel: string, text: string) => {
          if (channel === this.channel) this.deliver(text);
        });
        await redis.subscribe(this.channel);
      });
      this.subscriber = { connection, ready };
    }
    return this.subscriber.ready;
  }

  private deliver(text: string): void {
    let event: AnswerEvent;
    try {
      event = answerEventSchema.parse(JSON.parse(text));
    } catch (error) {
      this.onError(new Error(`malformed answer message on ${this.channel}: ${(error as Error).message}`));
      return;
    }
    const listeners = this.listeners.get(event.requestId);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the other listeners still get the answer.
      }
    }
  }
}
