/**
 * A model's published configs as a history of changes. The fast loop only moves thresholds and the
 * slow loop changes which ramps are on; telling the two apart is what an analyst reading a latency
 * jump or an agreement dip needs first, so every version is labelled with the kind of change it made
 * against the version before it.
 */
import type { RampConfig } from '../control/ramp-config';

export interface PublishedRampConfig extends RampConfig {
  /** When it was published, epoch ms; absent for a bundle's initial config never published. */
  readonly publishedAtMs?: number;
}

/** `first`: the oldest version known; `ramp set`: ramps added, dropped or moved; else `thresholds`. */
export type ConfigChange = 'first' | 'ramp set' | 'thresholds' | 'none';

export interface ConfigVersionEntry extends PublishedRampConfig {
  readonly change: ConfigChange;
}

/** The configs oldest first, each labelled against the one before it. */
export function configHistory(configs: readonly PublishedRampConfig[]): ConfigVersionEntry[] {
  const ordered = [...configs].sort((a, b) => a.version - b.version);
  return ordered.map((config, index) => {
    const previous = ordered[index - 1];
    return { ...config, change: previous === undefined ? 'first' : changeBetween(previous, config) };
  });
}

function changeBetween(before: PublishedRampConfig, after: PublishedRampConfig): ConfigChange {
  const ids = (config: PublishedRampConfig): string => config.ramps.map((ramp) => ramp.id).join('\u0000');
  if (ids(before) !== ids(after)) return 'ramp set';
  const moved = after.ramps.some((ramp, index) => ramp.threshold !== before.ramps[index]?.threshold);
  return moved ? 'thresholds' : 'none';
}

/** Thresholds as one short line, e.g. `block1=0.020 block3=0.110`, or `no ramps`. */
export function describeRamps(config: Pick<PublishedRampConfig, 'ramps'>): string {
  if (config.ramps.length === 0) return 'no ramps';
  return config.ramps.map((ramp) => `${ramp.id}=${ramp.threshold.toFixed(3)}`).join(' ');
}
