/**
 * Run as its own process by test/core/inference/shared-arena.test.ts: opens four sessions of
 * mnist-resnet (on the shared arena, or with `own` on arenas of their own), runs each once in turn
 * on a batch of 128 and prints how much the process's resident memory grew meanwhile. A process of
 * its own, because a test runner's worker also frees and grows memory for other test files.
 */
import { readFile } from 'node:fs/promises';
import { openSession } from '../../core/inference/onnx-session';
import { runAndRelease } from '../../core/inference/release-tensors';
import { fixtureBatch } from './fixture-batch';

async function main(): Promise<void> {
  const sharedArena = process.argv[2] !== 'own';
  const { fixture, feeds } = await fixtureBatch('mnist-resnet', 128);
  const bytes = new Uint8Array(await readFile(fixture.onnxPath));
  const sessions = [];
  for (let i = 0; i < 4; i++)
    sessions.push(await openSession(bytes, { intraOpThreads: 1, blocking: true, sharedArena }));
  const before = process.memoryUsage().rss;
  for (const session of sessions) await runAndRelease(() => session.runAny(feeds), feeds);
  process.stdout.write(`${JSON.stringify({ sharedArena, grewBytes: process.memoryUsage().rss - before })}\n`);
}

void main();
