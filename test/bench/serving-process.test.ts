/**
 * The evaluation's serving process refuses what is not in its protocol, with a reply that names
 * the problem, instead of serving on garbage or dying silently. (Serving itself, end to end over
 * the same channel, is exercised by the e2e benchmark's test.)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { servingReplySchema, type ServingReply } from '../../bench/eval/serving-protocol';

const ENTRY = join(__dirname, '..', '..', 'bench', 'eval', 'serving-process.ts');

function nextReply(child: ChildProcess): Promise<ServingReply> {
  return new Promise((resolve) => child.once('message', (m) => resolve(servingReplySchema.parse(m))));
}

describe('the serving process', () => {
  let child: ChildProcess;

  beforeEach(() => {
    child = fork(ENTRY, [], {
      execArgv: ['--require', 'tsx/cjs'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
  });

  afterEach(() => {
    if (child.exitCode === null) child.kill();
  });

  it('answers a malformed command with a failure that names the field', async () => {
    // When a serve command arrives without its config
    const reply = nextReply(child);
    child.send({ type: 'serve', bundleDir: '/nowhere', model: 'm', configPollMs: 100, warmupInputs: [] });

    // Then the process replies `failed`, saying the command was malformed and where
    const failed = await reply;
    expect(failed.type).toBe('failed');
    expect(failed.type === 'failed' && failed.message).toMatch(/malformed command.*config/s);
  }, 30_000);

  it('refuses requests before a worker is serving', async () => {
    const reply = nextReply(child);
    child.send({
      type: 'send',
      requests: [{ requestId: 'r0', enqueuedAtMs: 0, deadlineAtMs: 1, input: [0] }],
    });
    const failed = await reply;
    expect(failed).toEqual({
      type: 'failed',
      message: 'send arrived before serve: start the worker with a serve command first',
    });
  }, 30_000);
});
