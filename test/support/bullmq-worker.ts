/**
 * How the process tests start `apparate worker` on a BullMQ queue of their own: a queue name no
 * other run on this Redis uses, and the arguments that point a worker at a bundle and that queue.
 */

/** A BullMQ queue name unique to this test process and moment, so runs sharing a Redis never meet. */
export function freshQueueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now()}`;
}

/** `apparate worker` arguments for serving `bundleDir` from the BullMQ queue `queueName`, then `extra`. */
export function bullmqWorkerArgs(bundleDir: string, queueName: string, ...extra: string[]): string[] {
  return ['--bundle', bundleDir, '--queue', 'bullmq', '--queue-name', queueName, ...extra];
}
