/**
 * `apparate demo --fleet`: a compressed day of the Twitter trace (or, where that is absent, the
 * synthetic day of `core/workload/synthetic-trace.ts`) against a local pool serving the digits task. Each trace hour becomes one planning interval of a few seconds: before it, the
 * LSTM forecasts the hour's peak from the hours before (+10%), `decideFleet` keeps or replaces the
 * plan (scale up at once, down after four intervals), the plan is published to the stack's plan
 * store and the stack follows it (workers started, traffic moved, workers drained); during it,
 * requests naming the task arrive at the trace's rate for that hour. Every figure comes from the
 * answers the stack gave (which variant answered, its label, its latency) and from the pool's own
 * record of its workers.
 *
 * Two scales, stated in the report: the planner plans in profile units (one worker is one profiled
 * core; the trace's peak is scaled so that it needs `peakWorkers` workers of the most accurate
 * variant, as `npm run bench -- fleet` does), while the requests actually sent are scaled to
 * `peakRps`, which the shared machine can carry, so the pool runs larger than these requests need.
 */
import { performance } from 'node:perf_hooks';
import { sampleAt } from '../../core/data/dataset';
import { decideFleet } from '../../core/fleet/fleet-decision';
import { inScale, intervalPeaks } from '../../core/fleet/forecast';
import { lstmForecaster, readLstmWeights } from '../../core/fleet/lstm-forecaster';
import { planningOptions } from '../../core/fleet/planner';
import { readTaskProfiles } from '../../core/fleet/profiles-location';
import { taskVariants } from '../../core/fleet/tasks';
import { traceWindow } from '../../core/workload/trace';
import { listFixtureModels, loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';
import { DEFAULT_PREPARE } from '../../core/prepare/prepare-model';
import { InputError } from '../../core/errors';
import { ensureFixtureBundles } from './fixture-bundles';
import { startLocalStack, type LocalStackOptions } from './local-stack';

export const FLEET_DEMO_TASK = 'digits';

export interface FleetDemoOptions {
  /** With `bundles` set, those are served as they are; else the fixture bundles are prepared or reused. */
  readonly stack: LocalStackOptions;
  /** Per-second counts, and what they are, for the report. */
  readonly trace: { readonly counts: ArrayLike<number>; readonly name: string };
  /** The day of the trace replayed (day 15 is the one the fleet benchmark evaluates). */
  readonly startDay: number;
  /** Trace hours replayed from the day's start, 1 to 24. @default 24 */
  readonly hours?: number;
  /** Wall seconds per trace hour. */
  readonly intervalSeconds: number;
  /** Requests per second actually sent at the day's busiest moment. */
  readonly peakRps: number;
  /** Workers of the most accurate variant the day's peak needs, in profile units. */
  readonly peakWorkers: number;
  /** The worker budget W. */
  readonly maxWorkers: number;
  readonly deadlineMs: number;
  /** Told when each interval's requests have been sent (its answers are counted at the end). */
  readonly onInterval?: (row: FleetDemoInterval) => void;
}

export interface FleetDemoInterval {
  readonly hour: number;
  /** The hour's peak requests per second, trace units. */
  readonly tracePeak: number;
  /** The plan's forecast, profile units. */
  readonly forecastRps: number;
  readonly decision: 'replanned' | 'kept';
  readonly planVersion: number;
  /** Workers and dispatch weight per variant under the plan. */
  readonly plan: Readonly<Record<string, { workers: number; weight: number }>>;
  readonly sent: number;
  /** Answers per variant. */
  readonly answered: Readonly<Record<string, number>>;
  /** The pool's workers per variant once the interval's traffic had moved to the plan. */
  readonly poolWhenFollowed: Readonly<Record<string, number>>;
}

export interface FleetDemoReport {
  readonly task: string;
  readonly conditions: string;
  readonly sloMs: number;
  readonly intervals: readonly FleetDemoInterval[];
  readonly requests: number;
  readonly failed: number;
  /** Distinct request ids among the answers: equal to the answers when none was answered twice. */
  readonly distinctAnswered: number;
  /** Requests the pool's workers served, stopped ones included (each once when it equals the requests). */
  readonly served: number;
  /** Requests that failed or were answered later than the SLO (client-measured), %. */
  readonly sloViolationPct: number;
  /** Requests whose worker time (queue to answer) exceeded the SLO, %. */
  readonly workerSloViolationPct: number;
  readonly workerSeconds: number;
  readonly accuracy: number;
  /** Largest gap over intervals and variants between a variant's share of the answers and its weight. */
  readonly maxMixError: number;
  readonly loadSeconds: Readonly<Record<string, number>>;
  /** The pool's size over wall time, per variant: [seconds since start, workers]. */
  readonly workersOverTime: Readonly<Record<string, readonly (readonly [number, number])[]>>;
  readonly latencyMs: { readonly p50: number; readonly p95: number };
}

interface Answer {
  readonly interval: number;
  readonly ok: boolean;
  readonly requestId?: string;
  readonly model?: string;
  readonly correct: boolean;
  readonly totalMs: number;
  readonly workerMs: number;
}

const HOUR = 3600;

export async function runFleetDemo(options: FleetDemoOptions): Promise<FleetDemoReport> {
  const profiles = await readTaskProfiles('mnist');
  const models = await listFixtureModels();
  const tasks = taskVariants(models.map((m) => ({ name: m.spec.name, dataset: m.spec.dataset })));
  const variants = tasks.get(FLEET_DEMO_TASK);
  if (variants === undefined) throw new InputError(`no fixture models serve task ${FLEET_DEMO_TASK}`);
  const hours = options.hours ?? 24;
  if (!(Number.isInteger(hours) && hours >= 1 && hours <= 24)) {
    throw new InputError(`the fleet demo replays 1 to 24 whole trace hours, got ${hours}`);
  }

  // The replayed hours, and the ten hours before them for the forecaster's first window.
  const first = Math.round(options.startDay * 86400) - 10 * HOUR;
  if (first < 0) throw new InputError('--start-day must leave ten hours of trace before it');
  const window = traceWindow(options.trace.counts, first, (10 + hours) * HOUR, { skipZeroGaps: true });
  const hourPeaks = Array.from(intervalPeaks(window, HOUR));
  // The forecaster's own scale: per-minute peaks (InfAdapter's LSTM predicts the next minute's peak
  // from the last ten); before each hour it sees the ten minutes that precede it.
  const minutePeaks = Array.from(intervalPeaks(window, 60));
  const slotsPerHour = options.intervalSeconds;
  const slotMeans = (hour: number): number[] =>
    Array.from({ length: slotsPerHour }, (_, s) => {
      const from = (10 + hour) * HOUR + Math.floor((s * HOUR) / slotsPerHour);
      const to = (10 + hour) * HOUR + Math.floor(((s + 1) * HOUR) / slotsPerHour);
      let sum = 0;
      for (let i = from; i < to; i++) sum += window[i] as number;
      return sum / (to - from);
    });
  const dayMeans = Array.from({ length: hours }, (_, h) => slotMeans(h));
  const sendScale = options.peakRps / Math.max(...dayMeans.flat());
  const best = [...profiles.variants].sort((a, b) => b.accuracy - a.accuracy)[0];
  const bestCapacity = best?.settings.find((s) => s.exits === 'off')?.capacityRps ?? 1;
  const dayPeak = Math.max(...minutePeaks.slice(10 * 60));
  const planScale = (options.peakWorkers * bestCapacity) / dayPeak;
  const forecaster = inScale(lstmForecaster(await readLstmWeights()), planScale);
  const planning = planningOptions(profiles).filter((o) => variants.includes(o.variant));

  const bundles =
    options.stack.bundles ??
    (await ensureFixtureBundles({
      cacheDir: `${options.stack.bundleCacheDir}`,
      models: variants,
      repeats: options.stack.prepareRepeats,
      rampBudget: options.stack.rampBudget,
      progress: options.stack.progress,
    }));
  const stack = await startLocalStack({
    ...options.stack,
    port: 0,
    inMemory: true,
    bundles,
    models: variants,
    generativeModels: [],
    // The demo follows each plan itself, at the interval's start.
    configPollMs: 3_600_000,
    controllerPeriodMs: 3_600_000,
  });
  const model = await loadFixtureModel(variants[0] as string);
  const serving = await loadModelData(model, 'serving');
  const firstServed = Math.floor(serving.count * DEFAULT_PREPARE.bootstrapFraction);
  const classes = model.spec.classes;

  const startedAt = performance.now();
  const sizes: Record<string, [number, number][]> = Object.fromEntries(variants.map((v) => [v, []]));
  const sample = (): void => {
    const now = (performance.now() - startedAt) / 1000;
    const current = stack.pool.sizes();
    for (const v of variants) sizes[v]?.push([now, current.get(v) ?? 0]);
  };
  const sampler = setInterval(sample, 100);
  const answers: Promise<Answer>[] = [];
  const intervals: FleetDemoInterval[] = [];
  let sentIndex = 0;
  try {
    for (let hour = 0; hour < hours; hour++) {
      const latest = (await stack.plans.latest(FLEET_DEMO_TASK))?.plan;
      const decision = decideFleet({
        task: FLEET_DEMO_TASK,
        nowMs: hour,
        periodMs: 1,
        peaks: minutePeaks.slice((10 + hour) * 60 - 10, (10 + hour) * 60).map((p) => p * planScale),
        forecaster,
        latest,
        options: planning,
        settings: { maxWorkers: options.maxWorkers },
      });
      if (decision.kind === 'replanned') await stack.plans.publish(FLEET_DEMO_TASK, decision.plan);
      void stack.followPlans();
      const deadline = performance.now() + 5000;
      while (
        stack.dispatcher.planVersion(FLEET_DEMO_TASK) !== decision.plan.version &&
        performance.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const poolWhenFollowed = Object.fromEntries(variants.map((v) => [v, stack.pool.sizes().get(v) ?? 0]));
      const plan: Record<string, { workers: number; weight: number }> = {};
      for (const g of decision.plan.plan.groups) {
        const entry = (plan[g.variant] ??= { workers: 0, weight: 0 });
        entry.workers += g.workers;
        entry.weight += g.workers > 0 ? g.weight : 0;
      }
      // This hour's requests, slot by slot, evenly spaced.
      const hourStart = performance.now();
      const before = answers.length;
      for (const [slot, mean] of (dayMeans[hour] as number[]).entries()) {
        const n = Math.round(mean * sendScale);
        for (let i = 0; i < n; i++) {
          const at = hourStart + 1000 * (slot + i / n);
          const wait = at - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          const index = firstServed + (sentIndex++ % (serving.count - firstServed));
          answers.push(send(stack.url, hour, index, options.deadlineMs));
        }
      }
      // The next hour does not wait for this one's answers: its plan changes under this load.
      const row: FleetDemoInterval = {
        hour,
        tracePeak: hourPeaks[10 + hour] as number,
        forecastRps: decision.plan.plan.forecastRps,
        decision: decision.kind,
        planVersion: decision.plan.version,
        plan,
        sent: answers.length - before,
        answered: {},
        poolWhenFollowed,
      };
      intervals.push(row);
      options.onInterval?.(row);
    }
  } finally {
    clearInterval(sampler);
    sample();
  }
  const all = await Promise.all(answers);
  // A worker counts a request once its batch is acknowledged, which may trail the answer a little.
  const countedBy = performance.now() + 5000;
  while (stack.pool.served() < all.length && performance.now() < countedBy) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const served = stack.pool.served();
  for (const a of all) {
    const row = intervals[a.interval];
    if (row === undefined || !a.ok || a.model === undefined) continue;
    const answered = row.answered as Record<string, number>;
    answered[a.model] = (answered[a.model] ?? 0) + 1;
  }
  const loadSeconds = Object.fromEntries(
    [...stack.pool.loadTimes()].map(([v, ms]) => [v, ms.reduce((a, b) => a + b, 0) / ms.length / 1000]),
  );
  await stack.close();

  const ok = all.filter((a) => a.ok);
  const late = all.filter((a) => !a.ok || a.totalMs > profiles.sloMs).length;
  const workerLate = all.filter((a) => !a.ok || a.workerMs > profiles.sloMs).length;
  let workerSeconds = 0;
  for (const series of Object.values(sizes)) {
    for (let i = 1; i < series.length; i++) {
      const [t0, w0] = series[i - 1] as [number, number];
      workerSeconds += w0 * ((series[i] as [number, number])[0] - t0);
    }
  }
  let maxMixError = 0;
  for (const row of intervals) {
    const total = Object.values(row.answered).reduce((a, b) => a + b, 0);
    if (total === 0) continue;
    for (const [variant, { weight }] of Object.entries(row.plan)) {
      maxMixError = Math.max(maxMixError, Math.abs((row.answered[variant] ?? 0) / total - weight));
    }
  }
  const latencies = ok.map((a) => a.totalMs).sort((a, b) => a - b);
  const quantile = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    task: FLEET_DEMO_TASK,
    conditions:
      `${hours === 24 ? '' : `hours 0–${hours - 1} of `}day ${options.startDay} of ${options.trace.name} (zero gaps skipped), one trace hour per ${options.intervalSeconds} s; ` +
      `planned in profile units (peak = ${options.peakWorkers} workers of ${best?.name}, ×${planScale.toFixed(2)}), sent at up to ${options.peakRps} req/s (×${sendScale.toFixed(3)}); ` +
      `budget ${options.maxWorkers} workers; LSTM +10%; SLO ${profiles.sloMs.toFixed(1)} ms`,
    sloMs: profiles.sloMs,
    intervals,
    requests: all.length,
    failed: all.length - ok.length,
    distinctAnswered: new Set(ok.map((a) => a.requestId)).size,
    served,
    sloViolationPct: (100 * late) / Math.max(1, all.length),
    workerSloViolationPct: (100 * workerLate) / Math.max(1, all.length),
    workerSeconds,
    accuracy: ok.filter((a) => a.correct).length / Math.max(1, ok.length),
    maxMixError,
    loadSeconds,
    workersOverTime: sizes,
    latencyMs: { p50: quantile(0.5), p95: quantile(0.95) },
  };

  async function send(url: string, interval: number, index: number, deadlineMs: number): Promise<Answer> {
    const sample = sampleAt(serving, index);
    const inputs = sample.kind === 'image' ? Array.from(sample.pixels) : sample.text;
    const trueLabel = classes[serving.labels[index] as number];
    const began = performance.now();
    try {
      const response = await fetch(`${url}/v1/models/${FLEET_DEMO_TASK}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs, deadlineMs }),
      });
      const body = (await response.json()) as {
        requestId?: string;
        model?: string;
        label?: string;
        latencyMs?: { worker?: number };
      };
      const totalMs = performance.now() - began;
      return {
        interval,
        ok: response.status === 200,
        ...(body.requestId === undefined ? {} : { requestId: body.requestId }),
        ...(body.model === undefined ? {} : { model: body.model }),
        correct: body.label === trueLabel,
        totalMs,
        workerMs: body.latencyMs?.worker ?? totalMs,
      };
    } catch {
      return { interval, ok: false, correct: false, totalMs: performance.now() - began, workerMs: Infinity };
    }
  }
}
