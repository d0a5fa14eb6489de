/**
 * What the dashboard shows, as one JSON document per refresh: for every served model, over the
 * last window, released versus final latency, agreement against the constraint, exits per ramp,
 * throughput and queue depth, with the config serving now and its recent history. It is computed
 * from the same exit logs and config table the controller reads (by key queries), with the same
 * summary `apparate logs` prints, so the page, the CLI and the controller agree on every number.
 */
import { z } from 'zod';
import type { PublishedConfig } from '../../adapters/dynamo';
import type { RampConfig } from '../../core/control/ramp-config';
import { configHistory } from '../../core/report/config-history';
import { summariseExitLogs, type LoggedBatch } from '../../core/report/exit-log-summary';

/** How many config versions the history shows, newest first. */
export const DASHBOARD_HISTORY_VERSIONS = 10;

const quantilesSchema = z.object({ p50: z.number().nullable(), p95: z.number().nullable() });
const rampSchema = z.object({ id: z.string(), threshold: z.number() });

export const modelPanelSchema = z.object({
  model: z.string(),
  /** Requests whose batch started in the window. */
  requests: z.number().int(),
  throughputPerS: z.number(),
  /** From arrival to the released answer (early, or final when it did not exit), ms. */
  releasedMs: quantilesSchema,
  /** From arrival to the full model's answer, ms. */
  finalMs: quantilesSchema,
  /** Released answers equal to the full model's, 0..1; null without requests. */
  agreement: z.number().nullable(),
  meetsConstraint: z.boolean().nullable(),
  earlyRate: z.number().nullable(),
  exits: z.array(z.object({ exit: z.string(), requests: z.number().int(), rate: z.number().nullable() })),
  /** Requests waiting: in the queue and held by the worker; null when the transport cannot tell. */
  queueDepth: z.number().int().nullable(),
  config: z
    .object({ version: z.number().int(), publishedAtMs: z.number().nullable(), ramps: z.array(rampSchema) })
    .nullable(),
  /** Newest first. */
  history: z.array(
    z.object({
      version: z.number().int(),
      publishedAtMs: z.number().nullable(),
      change: z.enum(['first', 'ramp set', 'thresholds', 'none']),
      ramps: z.array(rampSchema),
    }),
  ),
});
export type ModelPanel = z.infer<typeof modelPanelSchema>;

export const dashboardSnapshotSchema = z.object({
  generatedAtMs: z.number(),
  windowSeconds: z.number(),
  constraint: z.number(),
  models: z.array(modelPanelSchema),
});
export type DashboardSnapshot = z.infer<typeof dashboardSnapshotSchema>;

/** Where the snapshot's figures come from; the local stack wires its stores and workers in. */
export interface DashboardSources {
  readonly models: () => Promise<readonly string[]>;
  /** Batches of `model` started in [fromMs, toMs) (the exit-log reader's `since`). */
  readonly batches: (model: string, fromMs: number, toMs: number) => Promise<readonly LoggedBatch[]>;
  /** Newest first, at most `limit` (the config store's `history`). */
  readonly configs: (model: string, limit: number) => Promise<readonly PublishedConfig[]>;
  readonly queueDepth: (model: string) => Promise<number | undefined>;
  /**
   * The config a worker serves now, where the caller can ask one (the local stack can); else the
   * newest published config stands for it. It differs while a worker still serves its bundle's
   * initial config or has not yet picked up the newest version.
   */
  readonly servingConfig?: (model: string) => RampConfig | undefined;
  /** The agreement constraint the controller holds. */
  readonly constraint: number;
}

const orNull = (value: number): number | null => (Number.isFinite(value) ? value : null);

/** One model's panel over [nowMs - windowMs, nowMs). */
async function modelPanel(
  sources: DashboardSources,
  model: string,
  nowMs: number,
  windowMs: number,
): Promise<ModelPanel> {
  const fromMs = nowMs - windowMs;
  const [batches, published, depth] = await Promise.all([
    sources.batches(model, fromMs, nowMs),
    sources.configs(model, DASHBOARD_HISTORY_VERSIONS + 1),
    sources.queueDepth(model),
  ]);
  const summary = summariseExitLogs(batches, {
    fromMs,
    toMs: nowMs,
    constraint: sources.constraint,
    windowMs,
  });
  // One version more than shown, so the oldest one shown is still labelled by what it changed.
  const history = configHistory(
    published.map((entry) => ({ ...entry.config, publishedAtMs: entry.publishedAtMs })),
  )
    .reverse()
    .slice(0, DASHBOARD_HISTORY_VERSIONS);
  const serving = sources.servingConfig?.(model);
  const latest =
    serving === undefined
      ? published[0]
      : {
          config: serving,
          publishedAtMs: published.find((entry) => entry.config.version === serving.version)?.publishedAtMs,
        };
  const agreement = orNull(summary.agreement);
  return {
    model,
    requests: summary.requests,
    throughputPerS: summary.throughputPerS,
    releasedMs: { p50: orNull(summary.releasedMs.p50), p95: orNull(summary.releasedMs.p95) },
    finalMs: { p50: orNull(summary.finalMs.p50), p95: orNull(summary.finalMs.p95) },
    agreement,
    meetsConstraint: agreement === null ? null : agreement >= sources.constraint,
    earlyRate: orNull(summary.earlyRate),
    exits: summary.exits.map((exit) => ({
      exit: exit.exit,
      requests: exit.requests,
      rate: orNull(exit.rate),
    })),
    queueDepth: depth ?? null,
    config:
      latest === undefined
        ? null
        : {
            version: latest.config.version,
            publishedAtMs: latest.publishedAtMs ?? null,
            ramps: latest.config.ramps.map((ramp) => ({ id: ramp.id, threshold: ramp.threshold })),
          },
    history: history.map((entry) => ({
      version: entry.version,
      publishedAtMs: entry.publishedAtMs ?? null,
      change: entry.change,
      ramps: entry.ramps.map((ramp) => ({ id: ramp.id, threshold: ramp.threshold })),
    })),
  };
}

/** Every model's panel over the last `windowMs`, read now. */
export async function buildDashboardSnapshot(
  sources: DashboardSources,
  windowMs: number,
  nowMs: number = Date.now(),
): Promise<DashboardSnapshot> {
  const models = await sources.models();
  return {
    generatedAtMs: nowMs,
    windowSeconds: windowMs / 1000,
    constraint: sources.constraint,
    models: await Promise.all(models.map((model) => modelPanel(sources, model, nowMs, windowMs))),
  };
}
