/**
 * The checks a ramp config must pass: before the worker's inference thread builds sessions for it,
 * and before the controller publishes it. A bad config must be refused with a message that says
 * what is wrong while the worker keeps serving the config it has, and a config the worker would
 * refuse must never reach the config table (every worker would log a refusal and keep the old one
 * while the controller believed the new one served), so both sides run this one function.
 */
import { InputError, describeIssues } from '../errors';
import { rampConfigSchema, type RampConfig } from '../control/ramp-config';

/** What the check needs of a candidate: the bundle manifest's and the worker's summaries fit. */
export interface CandidatePosition {
  readonly id: string;
  /** Order along the model, shallow to deep. */
  readonly position: number;
}

/**
 * Returns the config, validated against the bundle's candidates: its shape (a non-negative integer
 * version, thresholds in [0, 1]), every ramp id a candidate of this bundle, ramps strictly shallow
 * to deep (so each id at most once), and, when `currentVersion` is given, a version strictly newer
 * than it (versions only grow, so an old config delivered late never replaces a newer one).
 */
export function checkRampConfig(
  config: unknown,
  candidates: readonly CandidatePosition[],
  currentVersion?: number,
): RampConfig {
  const parsed = rampConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new InputError(`ramp config is malformed: ${describeIssues(parsed.error.issues)}`);
  }
  const checked = parsed.data;
  if (currentVersion !== undefined && checked.version <= currentVersion) {
    throw new InputError(
      `ramp config version ${checked.version} is not newer than the current version ${currentVersion}; only newer versions are applied`,
    );
  }
  const positions = new Map(candidates.map((candidate) => [candidate.id, candidate.position]));
  let previous: { id: string; position: number } | undefined;
  for (const ramp of checked.ramps) {
    const position = positions.get(ramp.id);
    if (position === undefined) {
      throw new InputError(
        `ramp config version ${checked.version} names unknown candidate ${ramp.id}; this bundle's candidates are ${candidates.map((c) => c.id).join(', ')}`,
      );
    }
    if (previous && position <= previous.position) {
      throw new InputError(
        `ramp config version ${checked.version} lists ${ramp.id} after ${previous.id}; list each ramp once, shallow to deep`,
      );
    }
    previous = { id: ramp.id, position };
  }
  return checked;
}
