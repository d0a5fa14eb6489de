/**
 * The open-loop client of the API benchmark, run in its own process so that the client's HTTP
 * work never shares an event loop with the stack it measures. Request `i` is sent at
 * `i / offeredRps` seconds after the start whatever the answers before it did (open loop: a slow
 * server does not slow the arrivals, as with real users), over keep-alive connections, and each
 * response is timed on this process's clock from its planned send time, so a late send is charged
 * to the system under test as a client would see it.
 *
 * With `concurrency` it runs closed loop instead (that many requests in flight, each sent when the
 * one before it is answered), for comparing CPU per request at alike batch sizes.
 *
 * Protocol: the parent forks this file with an IPC channel, sends one `LoadPlan`, and receives one
 * `LoadResult`; the process then exits.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';

export const loadPlanSchema = z.object({
  url: z.string().url(),
  model: z.string().min(1),
  offeredRps: z.number().positive(),
  seconds: z.number().positive(),
  deadlineMs: z.number().int().positive(),
  /** Request bodies' `inputs`, used in turn. */
  inputs: z.array(z.unknown()).min(1),
  /**
   * Closed loop instead: this many requests always in flight, each sent when the one before it on
   * its connection is answered, for `seconds` (`offeredRps` is then unused). Batch sizes then stay
   * alike from run to run, which CPU per request depends on.
   */
  concurrency: z.number().int().positive().optional(),
});
export type LoadPlan = z.infer<typeof loadPlanSchema>;

/** One request as the client saw it. */
export interface ClientSample {
  readonly status: number;
  /** From the planned send time to the whole response read, ms. */
  readonly latencyMs: number;
  /** `latencyMs.worker` of a 200 answer (enqueue to release, on the worker's clock). */
  readonly workerMs?: number;
}

export interface LoadResult {
  readonly samples: ClientSample[];
  /** From the first planned send to the last response, s. */
  readonly wallSeconds: number;
  /** CPU time this client process spent offering the load (user + system), ms. */
  readonly clientCpuMs: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

function post(url: URL, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Offers the plan's load and returns what every request got. */
export async function offerLoad(plan: LoadPlan): Promise<LoadResult> {
  const url = new URL(`${plan.url}/v1/models/${encodeURIComponent(plan.model)}/infer`);
  const bodies = plan.inputs.map((inputs) => JSON.stringify({ inputs, deadlineMs: plan.deadlineMs }));
  if (plan.concurrency !== undefined) return closedLoop(url, bodies, plan.concurrency, plan.seconds);
  const total = Math.max(1, Math.round(plan.offeredRps * plan.seconds));
  const intervalMs = 1000 / plan.offeredRps;
  const samples: ClientSample[] = [];
  const inFlight: Promise<void>[] = [];
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  let lastEnd = startedAt;
  for (let i = 0; i < total; i++) {
    const plannedAt = startedAt + i * intervalMs;
    const waitMs = plannedAt - performance.now();
    if (waitMs > 0.5) await new Promise((resolve) => setTimeout(resolve, waitMs));
    const body = bodies[i % bodies.length] as string;
    inFlight.push(
      post(url, body).then(
        ({ status, text }) => {
          const end = performance.now();
          lastEnd = Math.max(lastEnd, end);
          let workerMs: number | undefined;
          if (status === 200) {
            const parsed = JSON.parse(text) as { latencyMs?: { worker?: number } };
            workerMs = parsed.latencyMs?.worker;
          }
          samples.push({
            status,
            latencyMs: end - plannedAt,
            ...(workerMs === undefined ? {} : { workerMs }),
          });
        },
        () => {
          const end = performance.now();
          lastEnd = Math.max(lastEnd, end);
          samples.push({ status: 0, latencyMs: end - plannedAt });
        },
      ),
    );
  }
  await Promise.all(inFlight);
  const cpu = process.cpuUsage(cpuBefore);
  return { samples, wallSeconds: (lastEnd - startedAt) / 1000, clientCpuMs: (cpu.user + cpu.system) / 1000 };
}

/** `concurrency` requests always in flight for `seconds`; each is timed from its own send. */
async function closedLoop(
  url: URL,
  bodies: readonly string[],
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const samples: ClientSample[] = [];
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  const until = startedAt + seconds * 1000;
  let next = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < until) {
      const sentAt = performance.now();
      const body = bodies[next++ % bodies.length] as string;
      try {
        const { status, text } = await post(url, body);
        const workerMs =
          status === 200
            ? (JSON.parse(text) as { latencyMs?: { worker?: number } }).latencyMs?.worker
            : undefined;
        samples.push({
          status,
          latencyMs: performance.now() - sentAt,
          ...(workerMs === undefined ? {} : { workerMs }),
        });
      } catch {
        samples.push({ status: 0, latencyMs: performance.now() - sentAt });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const cpu = process.cpuUsage(cpuBefore);
  return {
    samples,
    wallSeconds: (performance.now() - startedAt) / 1000,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

if (require.main === module && process.send !== undefined) {
  process.once('message', (message: unknown) => {
    const plan = loadPlanSchema.parse(message);
    offerLoad(plan).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (error: unknown) => {
        process.stderr.write(`load generator failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
