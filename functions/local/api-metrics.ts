/**
 * The local API server's metrics, in Prometheus' text format at `GET /metrics`: every response by
 * route (the route's path template, so request ids do not explode the label set), method and
 * status, and the front door's own totals: requests admitted and refused (429) by backpressure,
 * by mode (sync or async), and durable writes kept off the response path that were retried or
 * given up on. The totals are
 * read from `AdmissionControl` and `WriteBehind` when scraped, so those stay free of any metrics
 * dependency (they also run inside Lambda, where nothing scrapes). One registry per server; the
 * registries of other servers running in the same process (the local stack's generation server)
 * are served beside it, so one scrape of the stack sees every family.
 */
import { Counter, Registry } from 'prom-client';
import { metricsIn } from '../../core/util/prometheus';
import type { AdmissionControl, AdmissionMode } from '../api/admission';
import type { WriteBehind } from '../api/write-behind';

const ADMISSION_MODES: readonly AdmissionMode[] = ['sync', 'async'];

/** Where the totals behind the front-door counters come from; either may be absent. */
export interface ApiMetricsSources {
  readonly admission?: AdmissionControl;
  readonly writeBehind?: WriteBehind;
  /**
   * Registries of other servers in this process whose metrics `/metrics` also serves (their
   * families must not share a name with these, which their own prefixes ensure).
   */
  readonly alsoServe?: readonly Registry[];
}

/** The route label of a request that matched no route. */
export const UNMATCHED_ROUTE = 'unmatched';

export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests = metricsIn(this.registry).counter(
    'apparate_api_requests_total',
    'Responses by route (path template), method and status',
    ['route', 'method', 'status'],
  );

  /** The registries scraped beside this one. */
  private readonly others: readonly Registry[];

  constructor(sources: ApiMetricsSources = {}) {
    const { admission, writeBehind } = sources;
    this.others = sources.alsoServe ?? [];
    if (admission !== undefined) {
      this.totalByMode(
        'apparate_api_admitted_total',
        'Requests admitted by backpressure, by mode (sync includes streamed)',
        (mode) => admission.countsByMode[mode].admitted,
      );
      this.totalByMode(
        'apparate_api_admission_refused_total',
        'Requests refused with 429 because the backlog could not be served within their deadline, by mode',
        (mode) => admission.countsByMode[mode].refused,
      );
    }
    /** Name, help, and where the running total is read, per front-door counter. */
    const totals: (readonly [string, string, () => number])[] =
      writeBehind === undefined
        ? []
        : [
            [
              'apparate_api_write_behind_started_total',
              'Durable writes started off the response path',
              () => writeBehind.counts.started,
            ],
            [
              'apparate_api_write_behind_retries_total',
              'Durable write attempts retried',
              () => writeBehind.counts.retried,
            ],
            [
              'apparate_api_write_behind_failures_total',
              'Durable writes given up on after every attempt failed',
              () => writeBehind.counts.failed,
            ],
          ];
    for (const [name, help, read] of totals) this.total(name, help, read);
  }

  /**
   * What `GET /metrics` serves: this registry merged with the others'. Merged at each scrape, so a
   * metric another server declares after start-up is served too; the merge throws on a family
   * name declared twice, which the scrape answers as a 500 naming it.
   */
  served(): Registry {
    return this.others.length === 0 ? this.registry : Registry.merge([this.registry, ...this.others]);
  }

  /** Counts one response. */
  observe(route: string, method: string, status: number): void {
    this.requests.inc({ route, method, status: String(status) });
  }

  /** A counter per admission mode whose values are running totals kept elsewhere, read when scraped. */
  private totalByMode(name: string, help: string, read: (mode: AdmissionMode) => number): void {
    const counter = new Counter({
      name,
      help,
      labelNames: ['mode'],
      registers: [],
      collect() {
        this.reset();
        for (const mode of ADMISSION_MODES) this.inc({ mode }, read(mode));
      },
    });
    this.registry.registerMetric(counter);
  }

  /** A counter whose value is a running total kept elsewhere, read when scraped. */
  private total(name: string, help: string, read: () => number): void {
    const counter = new Counter({
      name,
      help,
      registers: [],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
    this.registry.registerMetric(counter);
  }
}
