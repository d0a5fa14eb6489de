/**
 * The dashboard's sources on the local stack: the stack's own exit-log reader and config store,
 * and, for what only a running process knows, its queues and its pool's workers (queue depth, the config a
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
  /** The workers serving a model now (the pool's, per variant). */
  readonly workersOf: (model: string) => readonly ApparateWorker[];
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
      const workers = parts.workersOf(model);
      const held = workers.reduce((sum, worker) => sum + worker.queued, 0);
      return waiting === undefined || workers.length === 0 ? undefined : waiting + held;
    },
    // Workers of one model follow the same config; the first one's is what serves.
    servingConfig: (model) => parts.workersOf(model)[0]?.config,
    constraint: parts.constraint,
  };
}
