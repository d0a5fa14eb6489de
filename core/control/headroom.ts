/**
 * The tuning headroom. Thresholds tuned to meet the constraint exactly on a window are optimistic
 * about the inputs that follow (the greedy search picks the moves that happened to go well on
 * those very inputs), so the tuner aims at `constraint + headroom`, and the headroom follows the
 * agreement actually served: a shortfall adds `gain × shortfall`, a surplus takes it back at
 * `HEADROOM_RELEASE_RATIO` of that rate, within [0, 1 − constraint]. The online controller applies
 * the rule per tune, the scheduled controller per run; core/control/controller.ts explains the
 * measurements behind the defaults.
 */

/**
 * The headroom falls at a quarter of the rate it rises: a shortfall in served agreement is what
 * users notice, a surplus only costs some latency, so the feedback errs on the safe side.
 */
export const HEADROOM_RELEASE_RATIO = 0.25;

/** The headroom after one update on `servedAgreement` (the caller decides whether enough was served). */
export function nextHeadroom(
  headroom: number,
  constraint: number,
  servedAgreement: number,
  gain: number,
): number {
  const shortfall = constraint - servedAgreement;
  const step = shortfall > 0 ? gain : gain * HEADROOM_RELEASE_RATIO;
  return Math.min(1 - constraint, Math.max(0, headroom + step * shortfall));
}

/** The agreement the tuner aims at: the constraint plus the headroom, at most 1. */
export function tuningTarget(constraint: number, headroom: number): number {
  return Math.min(1, constraint + headroom);
}
