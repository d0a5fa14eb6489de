/**
 * The request queue on Amazon SQS, as deployed: the ingest Lambda sends, GPU workers receive.
 *
 * SQS keeps the delivery promises itself: a received message is hidden for the visibility timeout
 * (passed on every receive, so this adapter's setting wins over the queue's default), its
 * `ApproximateReceiveCount` is the receive count, and the queue's redrive policy moves a message
 * to the dead-letter queue once it has been received `maxReceiveCount` times. That count is
 * infrastructure configuration, not an option here, so a released message that used its last
 * receive reaches the dead-letter queue on the next receive attempt rather than at once. Bodies
 * that fail the schema are copied to the dead-letter queue and deleted here, at once.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { InputError } from '../../core/errors';
import {
  checkExtensionMs,
  checkReceiveArguments,
  decodeRequestBody,
  DEFAULT_VISIBILITY_TIMEOUT_MS,
  defaultErrorListener,
  encodeRequestBody,
  type InferenceRequest,
  type QueueErrorListener,
  type ReceivedMessage,
  type RequestQueue,
} from '../queue';

/** SQS returns at most this many messages per ReceiveMessage call. */
const MAX_MESSAGES_PER_CALL = 10;
/** SQS long-polls at most this long per ReceiveMessage call. */
const MAX_WAIT_SECONDS = 20;
/** How many dead letters `deadLettered` reads at most; it is meant for tests and metrics. */
const MAX_DEAD_LETTERS_READ = 1000;
/** How long dead letters stay hidden while `deadLettered` pages through them. */
const DEAD_LETTER_PEEK_SECONDS = 30;

export interface SqsQueueOptions {
  readonly queueUrl: string;
  /** The queue the redrive policy of `queueUrl` names; malformed bodies are sent there too. */
  readonly deadLetterQueueUrl: string;
  /** A configured client; the caller keeps ownership. @default a client from the environment, closed by close() */
  readonly client?: SQSClient;
  /**
   * Visibility timeout given with every receive, rounded up to whole seconds.
   * @default DEFAULT_VISIBILITY_TIMEOUT_MS (30 s)
   */
  readonly visibilityTimeoutMs?: number;
  /** Receives errors handled here rather than rejected. @default one JSON line on stderr */
  readonly onError?: QueueErrorListener;
}

export class SqsRequestQueue implements RequestQueue {
  readonly kind = 'sqs' as const;
  private readonly queueUrl: string;
  private readonly deadLetterQueueUrl: string;
  private readonly client: SQSClient;
  private readonly ownsClient: boolean;
  private readonly visibilityTimeoutSeconds: number;
  private readonly onError: QueueErrorListener;
  private closed = false;

  constructor(options: SqsQueueOptions) {
    this.queueUrl = checkQueueUrl('queueUrl', options.queueUrl);
    this.deadLetterQueueUrl = checkQueueUrl('deadLetterQueueUrl', options.deadLetterQueueUrl);
    const visibilityTimeoutMs = options.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_TIMEOUT_MS;
    if (
      !Number.isFinite(visibilityTimeoutMs) ||
      visibilityTimeoutMs < 1 ||
      visibilityTimeoutMs > 43_200_000
    ) {
      throw new InputError(
        `visibilityTimeoutMs for SQS must be between 1 and 43200000 (12 h), got ${visibilityTimeoutMs}`,
      );
    }
    this.visibilityTimeoutSeconds = Math.ceil(visibilityTimeoutMs / 1000);
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? new SQSClient({});
    this.onError = options.onError ?? defaultErrorListener(this.kind, this.queueUrl);
  }

  async send(request: InferenceRequest): Promise<void> {
    this.assertOpen();
    const { body } = encodeRequestBody(request);
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: body }));
  }

  /**
   * SQS long-polls in whole seconds, so the wait is `waitMs` rounded down: never longer than asked,
   * but a wait under a second is a short poll, which samples only some SQS servers and may come
   * back empty while messages exist. Consumers that loop should pass 1000 ms or more.
   */
  async receive(max: number, waitMs: number): Promise<ReceivedMessage[]> {
    checkReceiveArguments(max, waitMs);
    this.assertOpen();
    const deadline = Date.now() + waitMs;
    const received: ReceivedMessage[] = [];
    for (;;) {
      // Long-poll only for the first message; once some are in hand, take what is there at once.
      const remainingMs = received.length === 0 ? deadline - Date.now() : 0;
      const waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.floor(remainingMs / 1000)));
      const wanted = Math.min(MAX_MESSAGES_PER_CALL, max - received.length);
      const messages = await this.receiveBatch(
        this.queueUrl,
        wanted,
        waitSeconds,
        this.visibilityTimeoutSeconds,
      );
      for (const message of messages) {
        const admitted = await this.admit(message);
        if (admitted !== undefined) received.push(admitted);
      }
      if (received.length >= max || this.closed) return received;
      // An empty answer ends the receive unless nothing came yet and another long poll still fits.
      if (messages.length === 0 && (received.length > 0 || deadline - Date.now() < 1000)) return received;
    }
  }

  /** Deleting with a superseded receipt succeeds on SQS without deleting anything. */
  async ack(message: ReceivedMessage): Promise<void> {
    this.assertOpen();
    await this.client.send(
      new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.receipt }),
    );
  }

  async extendVisibility(message: ReceivedMessage, ms: number): Promise<void> {
    checkExtensionMs(ms);
    await this.changeVisibility(message.receipt, Math.ceil(ms / 1000));
  }

  async release(message: ReceivedMessage): Promise<void> {
    await this.changeVisibility(message.receipt, 0);
  }

  async deadLettered(): Promise<InferenceRequest[]> {
    return (await this.deadLetteredBodies()).flatMap((body) => {
      const decoded = decodeRequestBody(body);
      return decoded.ok ? [decoded.request] : [];
    });
  }

  /**
   * The bodies on the dead-letter queue, read without removing them: each is received (hidden for
   * a moment so that paging sees it once) and made visible again. Reads at most 1000, and raises
   * each dead letter's own receive count by one.
   */
  async deadLetteredBodies(): Promise<string[]> {
    this.assertOpen();
    const seen = new Map<string, Message>();
    while (seen.size < MAX_DEAD_LETTERS_READ) {
      const page = await this.receiveBatch(
        this.deadLetterQueueUrl,
        MAX_MESSAGES_PER_CALL,
        0,
        DEAD_LETTER_PEEK_SECONDS,
      );
      const fresh = page.filter((message) => message.MessageId !== undefined && !seen.has(message.MessageId));
      if (fresh.length === 0) break;
      for (const message of fresh) seen.set(message.MessageId ?? '', message);
    }
    for (const message of seen.values()) {
      await this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.deadLetterQueueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }
    return [...seen.values()].map((message) => message.Body ?? '');
  }

  /** Stops further calls; destroys the client only if this queue created it. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.ownsClient) this.client.destroy();
    }
    return Promise.resolve();
  }

  private async receiveBatch(
    queueUrl: string,
    maxMessages: number,
    waitSeconds: number,
    visibilitySeconds: number,
  ): Promise<Message[]> {
    const output = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: maxMessages,
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: visibilitySeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return output.Messages ?? [];
  }

  /** Turns an SQS message into a delivery, or moves a malformed body to the dead-letter queue. */
  private async admit(message: Message): Promise<ReceivedMessage | undefined> {
    const body = message.Body ?? '';
    const receipt = message.ReceiptHandle ?? '';
    const decoded = decodeRequestBody(body);
    if (decoded.ok) {
      const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
      return Object.freeze({
        receipt,
        request: decoded.request,
        receiveCount: Number.isSafeInteger(receiveCount) && receiveCount > 0 ? receiveCount : 1,
      });
    }
    try {
      // Copy first, then delete: a crash in between leaves a duplicate dead letter, never a lost one.
      await this.client.send(
        new SendMessageCommand({ QueueUrl: this.deadLetterQueueUrl, MessageBody: body }),
      );
      await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receipt }));
    } catch (error) {
      // It comes back after the visibility timeout; the redrive policy catches it if this keeps failing.
      this.onError(
        new Error(`could not dead-letter malformed message ${message.MessageId}`, { cause: error }),
      );
    }
    return undefined;
  }

  private async changeVisibility(receipt: string, seconds: number): Promise<void> {
    this.assertOpen();
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receipt,
        VisibilityTimeout: seconds,
      }),
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`request queue ${this.queueUrl} is closed`);
  }
}

function checkQueueUrl(option: string, url: string): string {
  try {
    new URL(url);
  } catch (error) {
    throw new InputError(`${option} must be an SQS queue URL, got ${JSON.stringify(url)}`, { cause: error });
  }
  return url;
}
