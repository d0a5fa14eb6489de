/**
 * Backpressure at the front door. Each request admitted for a model is outstanding until it is
 * answered or gives up (a sync or streamed one when its wait ends, an async one when its answer is
 * pushed or its deadline passes: `async-hold.ts`); a new one is admitted only while the backlog ahead of it (the
 * outstanding requests, itself included) can be served within its deadline at the model's measured
 * service rate, scaled by `headroom`. Otherwise it is refused at once with 429 and a Retry-After of
 * the time the excess backlog takes to drain, instead of queueing work that would only time out
 * (504) and delay everyone behind it. Refusals are counted.
 *
 * The service rate comes from whoever serves the model (the local stack: its worker's measured
 * rate); a model without one is never refused, so backpressure never blocks a deployment that
 * cannot measure it. That rate is the worker's own; when the path around it is the bottleneck (the
 * front door, the table writes and the worker sharing a machine's cores), answers come back more
 * slowly than the worker could serve. So the rate at which answered requests actually drain while
 * a backlog waits is measured here too, and the lower of the two is used: the front door then
 * refuses at the capacity the whole stack has, instead of admitting work that times out.
 */
export interface AdmissionOptions {
  /** The model's service rate now, requests per second; undefined when unknown. */
  readonly serviceRatePerSec: (model: string) => number | undefined;
  /**
   * Fraction of its deadline a request's predicted wait may take; below 1 refuses sooner and keeps
   * tail latency lower, above 1 admits more and lets some time out. @default 1
   */
  readonly headroom?: number;
  /** Clock for the drain rate, ms. @default performance.now */
  readonly nowMs?: () => number;
}

/** Answers drained while a backlog waited, over at most this long, make the observed rate. */
export const DRAIN_WINDOW_MS = 2000;
/** Fewest answers in the window before the observed rate is trusted. */
export const MIN_DRAIN_SAMPLES = 16;

/** Sync (and streamed) requests wait for their answers; async ones are answered 202 at once. */
export type AdmissionMode = 'sync' | 'async';

export type Admission =
  | {
      readonly admitted: true;
      readonly release: (answered?: boolean) => void;
      /** How long the backlog ahead of it, itself included, takes at the planned rate; undefined when unknown. */
      readonly predictedWaitMs: number | undefined;
    }
  | {
      readonly admitted: false;
      /** Whole seconds until the excess backlog has drained, at least 1. */
      readonly retryAfterS: number;
      readonly ahead: number;
      readonly predictedWaitMs: number;
      readonly ratePerSec: number;
    };

export interface AdmissionCounts {
  admitted: number;
  refused: number;
}

export class AdmissionControl {
  /** Every mode together. */
  readonly counts: AdmissionCounts = { admitted: 0, refused: 0 };
  /** The same counts per mode. */
  readonly countsByMode: Readonly<Record<AdmissionMode, AdmissionCounts>> = {
    sync: { admitted: 0, refused: 0 },
    async: { admitted: 0, refused: 0 },
  };
  private readonly outstanding = new Map<string, number>();
  /** Per model, when each recent answer drained while others still waited (oldest first). */
  private readonly drained = new Map<string, number[]>();
  private readonly headroom: number;
  private readonly nowMs: () => number;

  constructor(private readonly options: AdmissionOptions) {
    const headroom = options.headroom ?? 1;
    if (!(headroom > 0 && Number.isFinite(headroom))) {
      throw new RangeError(`headroom must be a positive number, got ${headroom}`);
    }
    this.headroom = headroom;
    this.nowMs = options.nowMs ?? (() => performance.now());
  }

  /**
   * Answers per second the model's backlog drained at over the last `DRAIN_WINDOW_MS`, counting
   * only answers given while other requests were still waiting (an idle model drains no faster
   * than its arrivals); undefined until `MIN_DRAIN_SAMPLES` such answers are in the window.
   */
  observedRatePerSec(model: string): number | undefined {
    const times = this.drained.get(model);
    if (times === undefined) return undefined;
    const since = this.nowMs() - DRAIN_WINDOW_MS;
    while (times.length > 0 && (times[0] as number) < since) times.shift();
    if (times.length < MIN_DRAIN_SAMPLES) return undefined;
    const spanMs = (times[times.length - 1] as number) - (times[0] as number);
    return spanMs > 0 ? ((times.length - 1) * 1000) / spanMs : undefined;
  }

  /** The rate admission plans with: the serving side's, or the observed drain rate when lower. */
  ratePerSec(model: string): number | undefined {
    const serving = this.options.serviceRatePerSec(model);
    const observed = this.observedRatePerSec(model);
    if (serving === undefined || observed === undefined) return serving;
    return Math.min(serving, observed);
  }

  /** Requests admitted for `model` and not yet released. */
  outstandingFor(model: string): number {
    return this.outstanding.get(model) ?? 0;
  }

  /**
   * Admits a request with `deadlineMs` left, or says why not. An admitted one must be released
   * once, saying whether it was answered (a request that gave up at its deadline is no evidence of
   * how fast the backlog drains). Both modes share one backlog: an async request takes the worker's
   * time just as a sync one does.
   */
  tryAdmit(model: string, deadlineMs: number, mode: AdmissionMode = 'sync'): Admission {
    const ahead = this.outstandingFor(model);
    const ratePerSec = this.ratePerSec(model);
    let predictedWaitMs: number | undefined;
    if (ratePerSec !== undefined && ratePerSec > 0) {
      predictedWaitMs = ((ahead + 1) / ratePerSec) * 1000;
      const allowedMs = this.headroom * deadlineMs;
      if (predictedWaitMs > allowedMs) {
        this.counts.refused += 1;
        this.countsByMode[mode].refused += 1;
        const retryAfterS = Math.max(1, Math.ceil((predictedWaitMs - allowedMs) / 1000));
        return { admitted: false, retryAfterS, ahead, predictedWaitMs, ratePerSec };
      }
    }
    this.counts.admitted += 1;
    this.countsByMode[mode].admitted += 1;
    this.outstanding.set(model, ahead + 1);
    let released = false;
    return {
      admitted: true,
      predictedWaitMs,
      release: (answered = true) => {
        if (released) return;
        released = true;
        const left = this.outstandingFor(model) - 1;
        if (answered && left > 0) this.recordDrain(model);
        if (left > 0) this.outstanding.set(model, left);
        else this.outstanding.delete(model);
      },
    };
  }

  private recordDrain(model: string): void {
    let times = this.drained.get(model);
    if (times === undefined) {
      times = [];
      this.drained.set(model, times);
    }
    times.push(this.nowMs());
    // Bounded: the window never needs more than a few seconds of answers at any rate served here.
    if (times.length > 8192) times.splice(0, times.length - 8192);
  }
}
