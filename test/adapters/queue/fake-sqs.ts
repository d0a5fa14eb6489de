/**
 * A small SQS, in memory, behind a mocked SDK client. Real AWS cannot run here and no local
 * emulator speaks SQS's current JSON protocol, so the SQS adapter is tested at the SDK boundary
 * against this model of the semantics it relies on: visibility timeouts (on a clock tests advance),
 * receive counts, long polling (in real time, woken by sends and releases), receipts superseded by
 * later receives, and a redrive policy that moves a message to its dead-letter queue on the receive
 * after its `maxReceiveCount`-th.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  MessageNotInflight,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageCommand,
  type ChangeMessageVisibilityCommandInput,
  type DeleteMessageCommandInput,
  type Message,
  type ReceiveMessageCommandInput,
  type ReceiveMessageCommandOutput,
  type SendMessageCommandInput,
  type SendMessageCommandOutput,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { ChangeSignal } from '../../../adapters/queue/change-signal';

export interface RedrivePolicy {
  readonly deadLetterQueueUrl: string;
  readonly maxReceiveCount: number;
}

interface FakeMessage {
  readonly messageId: string;
  readonly body: string;
  receiveCount: number;
  visibleAtMs: number;
  /** The receipt of the latest receive; earlier ones are superseded. */
  receiptHandle: string | undefined;
}

interface FakeQueue {
  readonly messages: FakeMessage[];
  readonly redrive: RedrivePolicy | undefined;
}

export class FakeSqs {
  /** The fake's clock; only visibility reads it, so tests move it instead of sleeping. */
  nowMs = 1_000_000;
  private readonly queues = new Map<string, FakeQueue>();
  private readonly changes = new ChangeSignal();
  private nextId = 1;
  private closed = false;

  createQueue(url: string, redrive?: RedrivePolicy): void {
    this.queues.set(url, { messages: [], redrive });
  }

  /**
   * Routes every call `client` makes to this fake; a command it does not model is rejected. The
   * returned stub records the calls and can override a behaviour; restore() undoes the routing.
   */
  attach(client: SQSClient): AwsClientStub<SQSClient> {
    const mock = mockClient(client);
    mock.onAnyCommand().rejects(new Error('the fake SQS does not model this command'));
    mock.on(SendMessageCommand).callsFake((input: SendMessageCommandInput) => this.sendMessage(input));
    mock
      .on(ReceiveMessageCommand)
      .callsFake((input: ReceiveMessageCommandInput) => this.receiveMessage(input));
    mock.on(DeleteMessageCommand).callsFake((input: DeleteMessageCommandInput) => this.deleteMessage(input));
    mock
      .on(ChangeMessageVisibilityCommand)
      .callsFake((input: ChangeMessageVisibilityCommandInput) => this.changeMessageVisibility(input));
    return mock;
  }

  advance(ms: number): void {
    this.nowMs += ms;
    this.changes.notify();
  }

  /** The bodies on a queue, visible or not, without receiving them. */
  bodies(url: string): string[] {
    return this.queue(url).messages.map((message) => message.body);
  }

  /** Ends every long poll at once, so that nothing waits on a timer after a test. */
  close(): void {
    this.closed = true;
    this.changes.notify();
  }

  sendMessage(input: SendMessageCommandInput): SendMessageCommandOutput {
    const body = input.MessageBody ?? '';
    if (body.length === 0) throw new Error('MessageBody must not be empty');
    const messageId = `message-${this.nextId++}`;
    this.queue(input.QueueUrl).messages.push({
      messageId,
      body,
      receiveCount: 0,
      visibleAtMs: 0,
      receiptHandle: undefined,
    });
    this.changes.notify();
    return { MessageId: messageId, $metadata: {} };
  }

  async receiveMessage(input: ReceiveMessageCommandInput): Promise<ReceiveMessageCommandOutput> {
    const max = input.MaxNumberOfMessages ?? 1;
    const waitSeconds = input.WaitTimeSeconds ?? 0;
    const visibilitySeconds = input.VisibilityTimeout ?? 30;
    checkWhole('MaxNumberOfMessages', max, 1, 10);
    checkWhole('WaitTimeSeconds', waitSeconds, 0, 20);
    checkWhole('VisibilityTimeout', visibilitySeconds, 0, 43_200);
    const withReceiveCount = (input.MessageSystemAttributeNames ?? []).some(
      (name) => name === 'ApproximateReceiveCount' || name === 'All',
    );
    const deadline = performance.now() + waitSeconds * 1000;
    for (;;) {
      const messages = this.take(input.QueueUrl, max, visibilitySeconds, withReceiveCount);
      const remainingMs = deadline - performance.now();
      if (messages.length > 0 || remainingMs <= 0 || this.closed)
        return { Messages: messages, $metadata: {} };
      await this.changes.wait(remainingMs);
    }
  }

  /** As on SQS, a superseded receipt of a message still on the queue deletes nothing and succeeds. */
  deleteMessage(input: DeleteMessageCommandInput): { $metadata: object } {
    const handle = input.ReceiptHandle ?? '';
    if (!handle.startsWith('receipt:')) {
      throw new ReceiptHandleIsInvalid({ message: 'The receipt handle is not valid', $metadata: {} });
    }
    const messages = this.queue(input.QueueUrl).messages;
    const index = messages.findIndex((message) => message.receiptHandle === handle);
    if (index >= 0) messages.splice(index, 1);
    return { $metadata: {} };
  }

  changeMessageVisibility(input: ChangeMessageVisibilityCommandInput): { $metadata: object } {
    const seconds = input.VisibilityTimeout ?? 0;
    checkWhole('VisibilityTimeout', seconds, 0, 43_200);
    const message = this.queue(input.QueueUrl).messages.find(
      (candidate) => candidate.receiptHandle !== undefined && candidate.receiptHandle === input.ReceiptHandle,
    );
    if (message === undefined) {
      throw new ReceiptHandleIsInvalid({ message: 'The receipt handle is not valid', $metadata: {} });
    }
    if (message.visibleAtMs <= this.nowMs) {
      throw new MessageNotInflight({ message: 'The message is not in flight', $metadata: {} });
    }
    message.visibleAtMs = this.nowMs + seconds * 1000;
    if (seconds === 0) this.changes.notify();
    return { $metadata: {} };
  }

  private take(
    url: string | undefined,
    max: number,
    visibilitySeconds: number,
    withReceiveCount: boolean,
  ): Message[] {
    const queue = this.queue(url);
    const taken: Message[] = [];
    for (const message of [...queue.messages]) {
      if (taken.length >= max) break;
      if (message.visibleAtMs > this.nowMs) continue;
      if (queue.redrive !== undefined && message.receiveCount >= queue.redrive.maxReceiveCount) {
        queue.messages.splice(queue.messages.indexOf(message), 1);
        this.queue(queue.redrive.deadLetterQueueUrl).messages.push({
          ...message,
          receiveCount: 0,
          visibleAtMs: 0,
          receiptHandle: undefined,
        });
        continue;
      }
      message.receiveCount += 1;
      message.visibleAtMs = this.nowMs + visibilitySeconds * 1000;
      message.receiptHandle = `receipt:${message.messageId}:${message.receiveCount}`;
      taken.push({
        MessageId: message.messageId,
        ReceiptHandle: message.receiptHandle,
        Body: message.body,
        ...(withReceiveCount
          ? { Attributes: { ApproximateReceiveCount: String(message.receiveCount) } }
          : {}),
      });
    }
    return taken;
  }

  private queue(url: string | undefined): FakeQueue {
    const queue = this.queues.get(url ?? '');
    if (queue === undefined) throw new Error(`the fake SQS has no queue ${url}`);
    return queue;
  }
}

function checkWhole(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
}
