/**
 * The EE bundle's manifest: everything the worker and the simulator need to serve a prepared
 * model, validated by one schema. A bundle is a directory holding this manifest, a copy of the
 * original model and one weights file per trained ramp; segments are cut from the model at load
 * time for whichever ramp set the current config activates, so one bundle serves every config.
 */
import { z } from 'zod';
import { modelSpecSchema } from '../model/model-spec';
import { limitSchema, RAMP_BUDGET } from '../control/limits';
import { rampConfigSchema } from '../control/ramp-config';
import { renamedKey } from '../util/renamed-key';

export const BUNDLE_FORMAT_VERSION = 1;

export const rampMemberSchema = z.enum(['avg1', 'avg2', 'avg4', 'first', 'mean', 'first+mean']);
export type RampMemberKey = z.infer<typeof rampMemberSchema>;

const dimensionSchema = z.union([z.number().int().positive(), z.string()]);

export const trainedRampSchema = z.object({
  member: rampMemberSchema,
  featureSize: z.number().int().positive(),
  /** File (relative to the bundle) with float32 weights [featureSize, classes] then bias [classes]. */
  weightsFile: z.string(),
  validationAgreement: z.number().min(0).max(1),
  trainAgreement: z.number().min(0).max(1),
  /**
   * Share of the held-out bootstrap inputs this ramp releases at the default accuracy constraint
   * (core/prepare/exit-shares.ts), which the initial placement weighs; absent in older bundles.
   * Bundles prepared since cross-fitting (core/prepare/cross-fitted.ts) judge every bootstrap input
   * by a ramp not trained on it; older ones judged the tenth the deployed ramp held out.
   */
  heldOutExitShare: z.number().min(0).max(1).optional(),
  /** How many held-out inputs that share was measured on, which bounds how far it can be trusted. */
  heldOutInputs: z.number().int().nonnegative().optional(),
  /** Every family member tried at this position, for the record. */
  alternatives: z.array(
    z.object({
      member: rampMemberSchema,
      validationAgreement: z.number().min(0).max(1),
      costMs: z.number().nonnegative(),
    }),
  ),
});
export type TrainedRampRecord = z.infer<typeof trainedRampSchema>;

export const candidateRecordSchema = z.object({
  id: z.string(),
  /** Index of the node (in topological order) after which the cut lies. */
  position: z.number().int().nonnegative(),
  tensor: z.string(),
  sideTensors: z.array(z.string()),
  shape: z.array(dimensionSchema),
  kind: z.enum(['image', 'sequence']),
  /** Share of the plain model's measured latency (at the reference batch size) spent before this position. */
  latencyFraction: z.number().min(0).max(1),
  ramp: trainedRampSchema,
});
export type CandidateRecord = z.infer<typeof candidateRecordSchema>;

/** Bundles prepared before the model without ramps was called "plain" name its timings `vanillaMs`. */
export const profileSchema = z.preprocess(
  renamedKey('vanillaMs', 'plainMs'),
  z.object({
    batchSizes: z.array(z.number().int().positive()).min(1),
    /** Batch size at which latency fractions and the ramp budget are evaluated. */
    referenceBatchSize: z.number().int().positive(),
    /** Median wall time of the whole model in one session, per batch size. */
    plainMs: z.array(z.number().positive()),
    /** Median wall time of each segment of the all-candidates cut (candidates + 1 segments) per batch size. */
    segmentMs: z.array(z.array(z.number().nonnegative())),
    /**
     * What each candidate's chosen ramp costs, per batch size; how it was measured is `rampTiming`.
     */
    rampMs: z.record(z.string(), z.array(z.number().nonnegative())),
    /**
     * `operators`: the ramp's session against a run that binds the tensors it reads and computes
     * nothing, run for run, which leaves its operators: all it adds in serving, where it runs
     * inside its segment. Absent in bundles profiled before: the ramp's session alone, a whole
     * run's fixed cost included.
     */
    rampTiming: z.enum(['operators']).optional(),
    /**
     * Per candidate id, what cutting there costs, per batch size; how it was measured is
     * `cutTiming`. Bundles prepared before it was measured lack it; their cuts share the chain's
     * excess evenly.
     */
    cutMs: z.record(z.string(), z.array(z.number().nonnegative())).optional(),
    /**
     * `split`: the whole model cut at that candidate alone against the whole model, as served.
     * Absent where `cutMs` was measured on the stretch between the neighbouring candidates, which
     * charged a cut about a point less than serving pays on mnist-resnet. `tap`: the whole model
     * with the candidate's ramp tapped (core/inference/exit-tap.ts) against the whole model, less
     * the ramp's own operators, never less than the tap's kernel: what an exit adds where the
     * worker serves through taps, as it does wherever they are available.
     */
    cutTiming: z.enum(['split', 'tap']).optional(),
    /**
     * With `tap`, per candidate id, how its exit was read: `graph` where onnxruntime's optimised
     * graph with the ramp kept every node of the whole model's, so the added nodes were timed by
     * its per-operator profile (core/prepare/tap-price.ts); `timed` where it did not, and the
     * tapped model was timed against the whole. Absent in bundles from before the distinction.
     */
    tapPricing: z.record(z.string(), z.enum(['graph', 'timed'])).optional(),
    /**
     * The initial placement's confirmations (core/prepare/confirm-placement.ts): the chosen cuts
     * timed again together in fresh rounds at the reference batch size, against what placement
     * charged them. The checked cuts' `cutMs` at the reference size carry what the checks measured
     * (up or down; the mean where a cut was in several), their other sizes are scaled by the same
     * ratio, and placement ran again on them; sets placement passed over but would have taken
     * with their unmeasured cuts a reading's noise cheaper are checked the same way (`near-miss`).
     * Absent in bundles prepared before, or where no ramp fitted the budget even so.
     */
    placementChecks: z
      .array(
        z.object({
          ids: z.array(z.string()).min(1),
          chargedMs: z.number().nonnegative(),
          measuredMs: z.number().nonnegative(),
          /** `chosen`, or `near-miss`: a set placement passed over on a reading within noise. */
          reason: z.enum(['chosen', 'near-miss']).optional(),
        }),
      )
      .optional(),
    warmupRuns: z.number().int().nonnegative(),
    repeats: z.number().int().positive(),
    /**
     * Operator threads each session used while profiling (0: every core), so a server can tell
     * whether the timings are those of its own thread layout. Absent in bundles profiled before
     * it was recorded, which used every core.
     */
    intraOpThreads: z.number().int().nonnegative().optional(),
  }),
);
export type LatencyProfile = z.infer<typeof profileSchema>;

export const manifestSchema = z.object({
  formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
  createdAt: z.string(),
  model: z.object({
    name: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    file: z.string(),
    spec: modelSpecSchema,
  }),
  bootstrap: z.object({
    fraction: z.number().gt(0).lt(1),
    samples: z.number().int().positive(),
    seed: z.number().int(),
    source: z.string(),
  }),
  rampBudget: limitSchema(RAMP_BUDGET),
  latestUsefulCandidate: z.string().nullable(),
  candidates: z.array(candidateRecordSchema).min(1),
  profile: profileSchema,
  sliceCheck: z.object({ samples: z.number().int().positive(), maxAbsDiff: z.number().nonnegative() }),
  initialConfig: rampConfigSchema,
  /**
   * Share of the bootstrap inputs the initial ramps release when their thresholds are tuned
   * together to `agreement` on cross-fitted observations (core/prepare/joint-saving.ts); absent
   * where the set was not judged jointly, and in older bundles.
   */
  initialRelease: z
    .object({ share: z.number().min(0).max(1), agreement: z.number().min(0).max(1) })
    .optional(),
});
export type BundleManifest = z.infer<typeof manifestSchema>;
