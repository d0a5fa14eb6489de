/**
 * The ramp config: which ramps are active and each one's threshold, under a version. It is what
 * the controller (in-process or scheduled) decides, what the config table holds, what a worker
 * applies and what a bundle starts from, so it has one schema here, beside the controller that
 * produces it; the bundle manifest, the stores and the worker import it from here (core/bundle
 * already depends on core/control for the limits, so this adds no cycle).
 */
import { z } from 'zod';

export const rampConfigSchema = z.object({
  /** Config versions only grow; workers apply only newer ones. */
  version: z.number().int().nonnegative(),
  /** Active ramps, shallow to deep, by candidate id. */
  ramps: z.array(z.object({ id: z.string(), threshold: z.number().min(0).max(1) })),
});
export type RampConfig = z.infer<typeof rampConfigSchema>;
