/**
 * The checks a ramp config must pass before the inference thread builds sessions for it. A config
 * arrives from the controller (or a user) and a bad one must be refused with a message that says
 * what is wrong, while the worker keeps serving the config it has; the same checks guard the
 * config the engine starts with, so no path skips them.
 */
import { rampConfigSchema, type RampConfig } from '../../core/bundle/manifest';
import { InputError, describeIssues } from '../../core/errors';
import type { CandidateSummary } from './protocol';

/**
 * Returns the config, validated against the bundle's candidates: its shape (a non-negative integer
 * version, thresholds in [0, 1]), every ramp id a candidate of this bundle, ramps strictly shallow
 * to deep (so each id at most once), and, when `currentVersion` is given, a version strictly newer
 * than it (versions only grow, so an old config delivered late never replaces a newer one).
 */
export function checkRampConfig(
  config: unknown,
  candidates: readonly CandidateSummary[],
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
