import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { exitTapState } from '../../core/inference/exit-tap';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { cutCostsMs } from '../../core/bundle/cost-profile';
import { readBundle } from '../../core/bundle/bundle-io';
import { ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { fixedBatchModel, loneGemmModel } from '../onnx/tiny-models';
import { runCli } from '../support/run-cli';

const summarySchema = z.object({
  model: z.string(),
  candidates: z.array(
    z.object({ id: z.string(), tensor: z.string(), latencyFraction: z.number(), rampAgreement: z.number() }),
  ),
  initialRamps: z.array(z.string()),
  profile: z.object({ batchSizes: z.array(z.number()), plainMs: z.array(z.number()) }),
  sliceCheck: z.object({ maxAbsDiff: z.number() }),
});

describe('apparate prepare', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'apparate-prepare-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    ['mnist-resnet', 8],
    ['spam-bert', 5],
  ])('builds a valid bundle for %s with trained ramps within the budget', async (name, candidateCount) => {
    // Given a fixture model and a fresh output directory
    const out = join(work, name);

    // When it is prepared
    const result = await runCli([
      'prepare',
      '--model',
      join(ZOO_MODELS_DIR, name),
      '--out',
      out,
      '--json',
      '--repeats',
      '3',
    ]);

    // Then the summary and the bundle agree and meet the preparation's promises
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = summarySchema.parse(JSON.parse(result.stdout));
    expect(summary.model).toBe(name);
    expect(summary.candidates).toHaveLength(candidateCount);
    expect(summary.profile.batchSizes).toEqual([1, 2, 4, 8, 16, 32]);
    expect(summary.sliceCheck.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    for (const c of summary.candidates) expect(c.rampAgreement).toBeGreaterThan(0.5);
    const bundle = await readBundle(out);
    const { manifest } = bundle;
    expect(manifest.initialConfig.ramps.map((r) => r.id)).toEqual(summary.initialRamps);
    expect(manifest.initialConfig.ramps.every((r) => r.threshold === 0)).toBe(true);
    // Within budget counting what a ramp really costs: its own time plus its own cut's, measured.
    const slot = manifest.profile.batchSizes.indexOf(manifest.profile.referenceBatchSize);
    expect(Object.keys(manifest.profile.cutMs ?? {})).toEqual(manifest.candidates.map((c) => c.id));
    // Timed as served: where exit taps are available (here, on a CPU), each exit on the whole model
    // with its ramp tapped; elsewhere each cut on the whole model cut there alone; each ramp's
    // operators alone. An exit is never charged less than its tap's own kernel time.
    expect(exitTapState()).toEqual({ available: true });
    expect(manifest.profile.cutTiming).toBe('tap');
    // Each fixture's ramps leave onnxruntime's optimised graph of the model as it was, so every
    // exit was read from its per-operator profile rather than timed as a difference.
    expect(manifest.profile.tapPricing).toEqual(
      Object.fromEntries(manifest.candidates.map((c) => [c.id, 'graph'])),
    );
    // And each candidate's exit share was measured on every bootstrap input, each judged by a
    // ramp not trained on it, and the placed set was judged on them together.
    for (const c of manifest.candidates) expect(c.ramp.heldOutInputs).toBe(manifest.bootstrap.samples);
    expect(manifest.initialRelease !== undefined).toBe(manifest.initialConfig.ramps.length > 0);
    expect(manifest.initialRelease?.agreement ?? 0.995).toBeCloseTo(0.995, 9);
    expect(manifest.initialRelease?.share ?? 1).toBeGreaterThan(0);
    for (const id of Object.keys(manifest.profile.cutMs ?? {}))
      expect(manifest.profile.cutMs?.[id]?.[slot]).toBeGreaterThan(0);
    expect(manifest.profile.rampTiming).toBe('operators');
    const cuts = cutCostsMs(
      manifest.profile,
      manifest.candidates.map((c) => c.id),
    );
    const overheadMs = manifest.initialConfig.ramps.reduce(
      (sum, r) => sum + (manifest.profile.rampMs[r.id]?.[slot] ?? 0) + (cuts.get(r.id)?.[slot] ?? 0),
      0,
    );
    expect(overheadMs / (manifest.profile.plainMs[slot] ?? 1)).toBeLessThanOrEqual(manifest.rampBudget);
    // And every placed cut was timed again, together with the others chosen with it, in rounds
    // it was not chosen on (its figure is what those checks measured, not its screening round)
    const checked = new Set((manifest.profile.placementChecks ?? []).flatMap((check) => check.ids));
    expect(manifest.initialConfig.ramps.filter((r) => !checked.has(r.id))).toEqual([]);
    // The deepest ramps of the image model agree with it on at least 95% of validation inputs.
    const deepestFloor = name === 'mnist-resnet' ? 0.95 : 0.5;
    for (const c of summary.candidates.slice(-3))
      expect(c.rampAgreement).toBeGreaterThanOrEqual(deepestFloor);
    expect(readdirSync(work).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  describe('bad input', () => {
    const bad = (file: string, bytes: Uint8Array | string) => {
      const path = join(work, file);
      writeFileSync(path, bytes);
      return path;
    };

    it.each([
      [
        'a file that is not ONNX',
        () => bad('notes.onnx', 'these are not the weights you are looking for\n'),
        /cannot be read as an ONNX model|not an ONNX model/i,
      ],
      [
        'a truncated file',
        () =>
          bad(
            'truncated.onnx',
            readFileSync(join(ZOO_MODELS_DIR, 'mnist-resnet', 'model.onnx')).subarray(0, 1000),
          ),
        /truncated|not an ONNX model/i,
      ],
      ['a model without a batch dimension', () => bad('fixed.onnx', fixedBatchModel()), /no batch dimension/],
      [
        'a model with no candidate position',
        () => bad('gemm.onnx', loneGemmModel()),
        /no candidate position/,
      ],
    ])('refuses %s with one line and exit code 2, writing nothing', async (_what, makeModel, message) => {
      const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
      const result = await runCli(['prepare', '--model', makeModel(), '--out', out]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    });

    it('refuses an output directory that exists, before doing any work', async () => {
      const out = join(work, 'taken');
      mkdirSync(out);
      const result = await runCli(['prepare', '--model', join(ZOO_MODELS_DIR, 'mnist-resnet'), '--out', out]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /output directory .*taken already exists; choose a new path or remove it first/,
      );
      expect(readdirSync(out)).toEqual([]);
    });

    it.each([
      [['--ramp-budget', '0.7'], /--ramp-budget must be a number in \(0, 0.5\], got 0.7/],
      [['--bootstrap-fraction', 'lots'], /--bootstrap-fraction must be a number in \(0, 0.99\], got lots/],
    ])('refuses out-of-range knobs %j', async (args, message) => {
      const result = await runCli([
        'prepare',
        '--model',
        join(ZOO_MODELS_DIR, 'mnist-resnet'),
        '--out',
        join(work, 'x'),
        ...args,
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
    });
  });
});
