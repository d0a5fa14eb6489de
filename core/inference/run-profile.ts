/**
 * Reading onnxruntime's own profile of a session (`enableProfiling`): a Chrome-trace JSON array
 * with one `model_run` event per run and one `<node>_kernel_time` event per operator per run,
 * durations in microseconds. A cut's cost is only explained by comparing, run for run, what the
 * whole model and the chain of segments spent inside onnxruntime's kernels, inside onnxruntime but
 * outside the kernels (the executor, allocation, fences), and outside onnxruntime altogether
 * (JavaScript, copies in and out); this module turns the file into those per-run figures.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ArtifactError } from '../errors';

const traceEventSchema = z.object({
  cat: z.string(),
  name: z.string(),
  dur: z.number().nonnegative(),
  ts: z.number(),
  args: z.record(z.string(), z.unknown()).optional(),
});

const profileSchema = z.array(z.unknown());

const KERNEL_SUFFIX = '_kernel_time';

/** One run as onnxruntime saw it. */
export interface ProfiledRun {
  /** `model_run`: the whole `Run` call inside onnxruntime, ms. */
  readonly runMs: number;
  /** Sum of the operators' kernel times, ms. */
  readonly kernelMs: number;
  /** Kernel time per node name, ms (summed when onnxruntime gives several nodes one name). */
  readonly nodeMs: ReadonlyMap<string, number>;
  /** How many kernels ran under each node name. */
  readonly nodeCounts: ReadonlyMap<string, number>;
  /** Operator type per node name. */
  readonly opTypes: ReadonlyMap<string, string>;
  /** Node names in the order they ran. */
  readonly order: readonly string[];
  /** Every kernel in the order it ran, with its operator type and time in ms. */
  readonly kernels: readonly { readonly node: string; readonly op: string; readonly ms: number }[];
}

/** Parses a profile's events into runs, in order; the first `skipRuns` (warm-up) are dropped. */
export function parseRunProfile(events: unknown, skipRuns = 0): ProfiledRun[] {
  const parsed = profileSchema.safeParse(events);
  if (!parsed.success) throw new ArtifactError('an onnxruntime profile must be a JSON array of trace events');
  const runs: { start: number; end: number; runUs: number }[] = [];
  const kernels: { ts: number; name: string; op: string; us: number }[] = [];
  for (const raw of parsed.data) {
    const event = traceEventSchema.safeParse(raw);
    if (!event.success) continue; // metadata events without a duration
    const { cat, name, dur, ts, args } = event.data;
    if (cat === 'Session' && name === 'model_run') runs.push({ start: ts, end: ts + dur, runUs: dur });
    else if (cat === 'Node' && name.endsWith(KERNEL_SUFFIX)) {
      const op = typeof args?.op_name === 'string' ? args.op_name : 'unknown';
      kernels.push({ ts, name: name.slice(0, -KERNEL_SUFFIX.length), op, us: dur });
    }
  }
  runs.sort((a, b) => a.start - b.start);
  kernels.sort((a, b) => a.ts - b.ts);
  const result: ProfiledRun[] = [];
  let k = 0;
  for (const run of runs) {
    const nodeMs = new Map<string, number>();
    const nodeCounts = new Map<string, number>();
    const opTypes = new Map<string, string>();
    const order: string[] = [];
    const ran: { node: string; op: string; ms: number }[] = [];
    let kernelUs = 0;
    while (k < kernels.length && (kernels[k]?.ts ?? 0) < run.start) k++;
    for (; k < kernels.length && (kernels[k]?.ts ?? Infinity) <= run.end; k++) {
      const kernel = kernels[k] as (typeof kernels)[number];
      kernelUs += kernel.us;
      nodeMs.set(kernel.name, (nodeMs.get(kernel.name) ?? 0) + kernel.us / 1000);
      nodeCounts.set(kernel.name, (nodeCounts.get(kernel.name) ?? 0) + 1);
      opTypes.set(kernel.name, kernel.op);
      order.push(kernel.name);
      ran.push({ node: kernel.name, op: kernel.op, ms: kernel.us / 1000 });
    }
    result.push({
      runMs: run.runUs / 1000,
      kernelMs: kernelUs / 1000,
      nodeMs,
      nodeCounts,
      opTypes,
      order,
      kernels: ran,
    });
  }
  return result.slice(skipRuns);
}

/** Reads and parses the profile file a session wrote. */
export async function readRunProfile(path: string, skipRuns = 0): Promise<ProfiledRun[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ArtifactError(`cannot read onnxruntime profile ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  let events: unknown;
  try {
    events = JSON.parse(text);
  } catch (cause) {
    throw new ArtifactError(`onnxruntime profile ${path} is not JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  return parseRunProfile(events, skipRuns);
}
