/**
 * One store over the stores of a task's variants. On AWS every variant is its own deployment, with
 * its own results table, configs table and bundle bucket; a task's API reaches all of them. A
 * request is accepted into the table of the variant it was dispatched to, where that variant's
 * workers record its answer; a read by request id alone (GET /v1/requests/{id}, an idempotent retry,
 * the sync wait) looks in every variant's table and takes the most final record, because the id
 * does not say which variant the request went to (`mostFinalRecord`, the stores' own precedence).
 */
import type { ConfigStore, ResultRecord, ResultStore } from '../../adapters/dynamo';
import { mostFinalRecord } from '../../core/serving/stored-results';
import type { AnswerError } from '../../core/serving/answers';
import type { BundleCatalog } from '../catalog/bundle-catalog';

export type TaskResults = Pick<ResultStore, 'get' | 'putAccepted' | 'putError'>;

/** The results of a task's variants as one store; `stores` maps each variant to its results table. */
export function variantResults(stores: ReadonlyMap<string, TaskResults>): TaskResults {
  const all = [...stores.values()];
  const get = async (requestId: string): Promise<ResultRecord | undefined> =>
    mostFinalRecord(await Promise.all(all.map((store) => store.get(requestId))));
  return {
    get,
    putAccepted: (requestId, accepted) => {
      const store = stores.get(accepted.model);
      if (store === undefined) {
        return Promise.reject(
          new Error(
            `model ${accepted.model} is not a variant of this task (${[...stores.keys()].join(', ')})`,
          ),
        );
      }
      return store.putAccepted(requestId, accepted);
    },
    /**
     * A request that could not be queued: the error goes where the request was accepted, so a read
     * finds it beside the acceptance; a request accepted nowhere gets it in every table.
     */
    putError: async (requestId: string, error: AnswerError): Promise<boolean> => {
      const found = await Promise.all(all.map((store) => store.get(requestId)));
      const holders = all.filter((_, i) => found[i] !== undefined);
      const written = await Promise.all(
        (holders.length > 0 ? holders : all).map((store) => store.putError(requestId, error)),
      );
      return written.some(Boolean);
    },
  };
}

/** The bundles of a task's variants as one catalog; each variant's manifest is in its own bucket. */
export function variantCatalog(catalogs: ReadonlyMap<string, BundleCatalog>): BundleCatalog {
  return {
    models: () => Promise.resolve([...catalogs.keys()].sort()),
    manifest: (model) => catalogs.get(model)?.manifest(model) ?? Promise.resolve(undefined),
  };
}

/** The configs of a task's variants as one store; each variant's controller publishes in its own table. */
export function variantConfigs(
  configs: ReadonlyMap<string, Pick<ConfigStore, 'latest'>>,
): Pick<ConfigStore, 'latest'> {
  return { latest: (model) => configs.get(model)?.latest(model) ?? Promise.resolve(undefined) };
}
