/**
 * The checks a config must pass before the controller publishes it: the same ones the worker
 * applies before it builds sessions (gpu-worker/inference/config-check.ts), written against the
 * bundle manifest because the functions may not import the worker. A config the worker would
 * refuse must never reach the table, since every worker would then log a refusal and keep serving
 * the old config while the controller believes the new one serves.
 */
import { rampConfigSchema, type BundleManifest, type RampConfig } from '../../core/bundle/manifest';
import { describeIssues, InputError } from '../../core/errors';

/**
 * Returns `config` checked against the bundle: a well-formed config (whole version >= 0,
 * thresholds in [0, 1]), every ramp a candidate of the bundle, ramps strictly shallow to deep (so
 * each at most once), and a version strictly newer than `currentVersion`. Throws InputError naming
 * what is wrong otherwise.
 */
export function checkPublishableConfig(
  config: unknown,
  manifest: BundleManifest,
  currentVersion: number,
): RampConfig {
  const parsed = rampConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new InputError(`ramp config is malformed: ${describeIssues(parsed.error.issues)}`);
  }
  const checked = parsed.data;
  if (checked.version <= currentVersion) {
    throw new InputError(
      `ramp config version ${checked.version} is not newer than the current version ${currentVersion}; only newer versions are applied`,
    );
  }
  const positions = new Map(manifest.candidates.map((candidate) => [candidate.id, candidate.position]));
  let previous: { id: string; position: number } | undefined;
  for (const ramp of checked.ramps) {
    const position = positions.get(ramp.id);
    if (position === undefined) {
      throw new InputError(
        `ramp config version ${checked.version} names unknown candidate ${ramp.id}; this bundle's candidates are ${[...positions.keys()].join(', ')}`,
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
