/**
 * The generation thread: the only place the generation sessions live, because a session run holds
 * its thread's event loop and the main thread must keep streaming tokens to clients meanwhile.
 * Failures are posted back, never thrown: one bad request must not end the thread serving others.
 *
 * Started by `generation-thread.js`; use GenerationEngine.
 */
import { parentPort } from 'node:worker_threads';
import { GenerationLoop } from './generation-loop';
import type { FromGenerationThread, ToGenerationThread } from './protocol';

if (!parentPort) throw new Error('generation-thread.ts runs only as a worker thread');
const port = parentPort;
const post = (message: FromGenerationThread): void => port.postMessage(message);
let loop: GenerationLoop | null = null;

async function handle(message: ToGenerationThread): Promise<void> {
  switch (message.type) {
    case 'open':
      try {
        loop = await GenerationLoop.open(message.options);
        loop.on((event) => post({ type: 'event', event }));
        post({
          type: 'opened',
          context: loop.context,
          rampCount: loop.rampCount,
          maxRows: message.options.maxRows ?? 8,
        });
      } catch (error) {
        post({ type: 'open-failed', message: (error as Error).message });
      }
      return;
    case 'submit':
      try {
        if (!loop) throw new Error('the model is not open');
        loop.submit(message.request);
      } catch (error) {
        post({ type: 'refused', id: message.request.id, message: (error as Error).message });
      }
      return;
    case 'cancel':
      loop?.cancel(message.id);
      return;
    case 'close':
      await loop?.close();
      post({ type: 'closed' });
      port.close();
      return;
  }
}

port.on('message', (message: ToGenerationThread) => {
  void handle(message);
});
