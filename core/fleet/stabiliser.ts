/**
 * Damping of plan flapping, after InfAdapter: a new forecast at or below the rate the current plan
 * was sized for keeps the current plan, unless that has already happened for `intervals`
 * consecutive decisions. Scaling up is therefore immediate and scaling down waits a stabilisation
 * interval (InfAdapter: 4 decisions), so a brief dip does not unload models a burst needs back.
 */
export class PlanStabiliser {
  private sizedForRps = -1;
  private skipped = 0;

  constructor(private readonly intervals = 4) {}

  /** Whether to re-plan for `forecastRps`; when not, the caller keeps its current plan. */
  shouldReplan(forecastRps: number, forced = false): boolean {
    if (forced || this.sizedForRps < 0 || forecastRps > this.sizedForRps || this.skipped >= this.intervals) {
      this.sizedForRps = forecastRps;
      this.skipped = 0;
      return true;
    }
    this.skipped++;
    return false;
  }
}
