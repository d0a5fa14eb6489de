/**
 * The client's handle on one serving process (serving-process.ts): forks it, checks every reply
 * against the protocol, and turns the protocol's request/reply pairs into promises. Answers,
 * batches and publications go to the listener the client gives, as they arrive.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { CapacityResult } from './capacity';
import { servingReplySchema, type ServingCommand, type ServingReply } from './serving-protocol';

type Streamed = Extract<ServingReply, { type: 'releases' | 'batch' | 'published' }>;
type Awaited = Exclude<ServingReply, Streamed | { type: 'failed' }>;

/** A serving process the client talks to. */
export class ServingProcess {
  private waiting: { type: Awaited['type']; resolve: (reply: Awaited) => void } | undefined;
  private failure: Error | undefined;
  private onFailure: (error: Error) => void = () => undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly listener: (reply: Streamed) => void,
  ) {
    child.on('message', (message: unknown) => this.receive(message));
    child.once('error', (error) => this.fail(error));
    child.once('exit', (code, signal) => {
      if (this.waiting !== undefined || code !== 0) {
        this.fail(new Error(`serving process exited (code ${code}, signal ${signal ?? 'none'})`));
      }
    });
  }

  /** Forks a serving process; `listener` receives its answers, batches and publications. */
  static fork(listener: (reply: Streamed) => void = () => undefined): ServingProcess {
    const child = fork(join(__dirname, 'serving-process.ts'), [], {
      execArgv: ['--require', 'tsx/cjs'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    return new ServingProcess(child, listener);
  }

  /** The plain model's capacity, measured in a process of its own. */
  static async capacity(
    command: Omit<Extract<ServingCommand, { type: 'capacity' }>, 'type'>,
  ): Promise<CapacityResult> {
    const reply = await ServingProcess.fork().request({ type: 'capacity', ...command }, 'capacity');
    if (reply.type !== 'capacity') throw new Error(`serving process replied ${reply.type} to capacity`);
    const { rps, largestBatchMs, largestBatchSize } = reply;
    return { rps, largestBatchMs, largestBatchSize };
  }

  /** Starts the worker in the process and resolves once it is warm. */
  async serve(command: Omit<Extract<ServingCommand, { type: 'serve' }>, 'type'>): Promise<void> {
    await this.request({ type: 'serve', ...command }, 'ready');
  }

  /** Hands requests to the worker now. */
  send(requests: Extract<ServingCommand, { type: 'send' }>['requests']): void {
    if (requests.length > 0) this.post({ type: 'send', requests });
  }

  /** Stops the worker; the process exits. Resolves to the CPU it spent serving, where known. */
  async stop(): Promise<Extract<ServingReply, { type: 'stopped' }>['cpu']> {
    const reply = await this.request({ type: 'stop' }, 'stopped');
    return reply.type === 'stopped' ? reply.cpu : undefined;
  }

  /** The first failure of the process, if any (a failed send, a crash). */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Kills the process if it still runs (after a failure on the client's side). */
  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }

  private post(command: ServingCommand): void {
    this.child.send(command);
  }

  private request(command: ServingCommand, expect: Awaited['type']): Promise<Awaited> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { type: expect, resolve };
      this.onFailure = reject;
      this.post(command);
    });
  }

  private receive(message: unknown): void {
    const parsed = servingReplySchema.safeParse(message);
    if (!parsed.success) {
      this.fail(new Error(`serving process: malformed reply: ${parsed.error.message}`));
      return;
    }
    const reply = parsed.data;
    if (reply.type === 'failed') {
      this.fail(new Error(`serving process: ${reply.message}`));
    } else if (reply.type === 'releases' || reply.type === 'batch' || reply.type === 'published') {
      this.listener(reply);
    } else if (this.waiting?.type === reply.type) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(reply);
    } else {
      this.fail(new Error(`serving process: unexpected reply ${reply.type}`));
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.waiting = undefined;
    this.onFailure(this.failure);
    this.kill();
  }
}
