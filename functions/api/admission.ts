/**
 * Backpressure at the front door. Each synchronous request admitted for a model is outstanding
 * until it is answered or gives up; a new one is admitted only while the backlog ahead of it (the
 * outstanding requests, itself included) can be served within its deadline at the model's measured
 * service rate, scaled by `headroom`. Otherwise it is refused at once with 429 and a Retry-After of
 * the time the excess backlog takes to drain, instead of queueing work that would only time out
 * (504) and delay everyone behind it. Refusals are counted.
 *
 * The service rate comes from whoever serves the model (the local stack: its worker's measured
 * rate); a model without one is never refused, so backpressure never blocks a deployment that
 * cannot measure it.
 */
export interface AdmissionOptions {
  /** The model's service rate now, requests per second; undefined when unknown. */
  readonly serviceRatePerSec: (model: string) => number | undefined;
  /**
   * Fraction of its deadline a request's predicted wait may take; below 1 refuses sooner and keeps
   * tail latency lower, above 1 admits more and lets some time out. @default 1
   */
  readonly headroom?: number;
}

export type Admission =
  | { readonly admitted: true; readonly release: () => void }
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
  readonly counts: AdmissionCounts = { admitted: 0, refused: 0 };
  private readonly outstanding = new Map<string, number>();
  private readonly headroom: number;

  constructor(private readonly options: AdmissionOptions) {
    const headroom = options.headroom ?? 1;
    if (!(headroom > 0 && Number.isFinite(headroom))) {
      throw new RangeError(`headroom must be a positive number, got ${headroom}`);
    }
    this.headroom = headroom;
  }

  /** Requests admitted for `model` and not yet released. */
  outstandingFor(model: string): number {
    return this.outstanding.get(model) ?? 0;
  }

  /** Admits a request with `deadlineMs` left, or says why not; an admitted one must be released once. */
  tryAdmit(model: string, deadlineMs: number): Admission {
    const ahead = this.outstandingFor(model);
    const ratePerSec = this.options.serviceRatePerSec(model);
    if (ratePerSec !== undefined && ratePerSec > 0) {
      const predictedWaitMs = ((ahead + 1) / ratePerSec) * 1000;
      const allowedMs = this.headroom * deadlineMs;
      if (predictedWaitMs > allowedMs) {
        this.counts.refused += 1;
        const retryAfterS = Math.max(1, Math.ceil((predictedWaitMs - allowedMs) / 1000));
        return { admitted: false, retryAfterS, ahead, predictedWaitMs, ratePerSec };
      }
    }
    this.counts.admitted += 1;
    this.outstanding.set(model, ahead + 1);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        const left = this.outstandingFor(model) - 1;
        if (left > 0) this.outstanding.set(model, left);
        else this.outstanding.delete(model);
      },
    };
  }
}
