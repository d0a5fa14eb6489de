/**
 * Hands the memory of a run's outputs back at once, instead of leaving it to V8's collector.
 *
 * Every output of a run is a new ArrayBuffer (onnxruntime-node copies each output into one; a
 * direct run, direct-session.ts, has onnxruntime write into one). A model cut in segments returns
 * each boundary activation that way: megabytes per batch, read once by the next segment and then
 * garbage. V8 counts such buffers as external memory and starts a full collection each
 * time some tens of megabytes of it have accumulated, on helper threads that compete with the
 * inference lanes for the cores: on mnist-resnet cut at c1 (batch 4, 3,000 runs of the chain) 54
 * full collections against 9 for the whole model, and 3% more CPU than wall time. Detaching a
 * buffer (transferring it, as structured cloning defines it) frees its backing store on the spot
 * and takes it off V8's count: the same loop then collected 8 times, like the whole model.
 *
 * The transfer goes to a port that is already closed: Node still detaches what a closed port is
 * sent (a spec requirement) and drops the message, so nothing is queued or kept.
 */
import { MessageChannel } from 'node:worker_threads';
import type { PlainFeeds, PlainTensor } from './batch-encoding';

let sink: MessageChannel['port1'] | undefined;

/** A closed port of this thread (module state is per thread: each worker thread has its own). */
function closedPort(): MessageChannel['port1'] {
  if (!sink) {
    sink = new MessageChannel().port1;
    sink.close();
  }
  return sink;
}

/**
 * Frees the buffers of `tensors` that no tensor of `keep` shares. Afterwards every released
 * tensor's data is empty: call it only when nothing reads them any more. Shared and empty buffers
 * are left alone (there is nothing to free, or it is not ours to free).
 */
export function releaseTensors(tensors: Record<string, PlainTensor>, keep: PlainFeeds = {}): void {
  const kept = new Set<ArrayBufferLike>(Object.values(keep).map((tensor) => tensor.data.buffer));
  const freed = new Set<ArrayBuffer>();
  for (const tensor of Object.values(tensors)) {
    const buffer = tensor.data.buffer;
    // Not `instanceof`: buffers made by the native binding may come from another realm (jest's).
    const plain = Object.prototype.toString.call(buffer) === '[object ArrayBuffer]';
    if (!plain || buffer.byteLength === 0 || kept.has(buffer)) continue;
    freed.add(buffer as ArrayBuffer);
  }
  if (freed.size > 0) closedPort().postMessage(null, [...freed]);
}

/**
 * Runs `run` and frees what it returned, keeping `keep` (its feeds). For timing a run as served:
 * a side whose copies were left to the collector would pay for collections serving no longer does.
 */
export async function runAndRelease(
  run: () => Promise<Record<string, PlainTensor>>,
  keep: PlainFeeds,
): Promise<void> {
  releaseTensors(await run(), keep);
}
