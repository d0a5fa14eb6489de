/**
 * The dashboard's sources on the local stack: the stack's own exit-log reader and config store,
 * and, for what only a running process knows, its queues and workers (queue depth, the config a
 * worker serves now).
 */
import type { ConfigStore, ExitLogReader } from '../../adapters/dynamo';
import type { RequestQueue } from '../../adapters/queue';
import type { DashboardSources } from '../../functions';
import type { ApparateWorker } from '../../gpu-worker';

export interface LocalDashboardParts {
  readonly models: readonly string[];
  readonly exitLogs: ExitLogReader;
  readonly configs: ConfigStore;
  readonly queues: ReadonlyMap<string, RequestQueue>;
  readonly workers: ReadonlyMap<string, ApparateWorker>;
  readonly constraint: number;
}

export function localDashboardSources(parts: LocalDashboardParts): DashboardSources {
  return {
    models: () => Promise.resolve(parts.models),
    batches: (model, fromMs, toMs) => parts.exitLogs.since(model, fromMs, toMs),
    configs: (model, limit) => parts.configs.history(model, limit),
    // Waiting in the transport plus received and held by the worker for a coming batch.
    queueDepth: async (model) => {
      const waiting = await parts.queues.get(model)?.waiting?.();
      const held = parts.workers.get(model)?.queued;
      return waiting === undefined || held === undefined ? undefined : waiting + held;
    },
    servingConfig: (model) => parts.workers.get(model)?.config,
    constraint: parts.constraint,
  };
}
