import type { PlainFeeds } from '../../core/inference/batch-encoding';
import { InputError } from '../../core/errors';
import {
  attachRamp,
  buildFeatureModel,
  buildRampModel,
  featureOutputName,
  featureSize,
} from '../../core/onnx/ramp-heads';
import {
  IMAGE_MEMBERS,
  SEQUENCE_MEMBERS,
  memberKey,
  parseMemberKey,
  type RampMember,
} from '../../core/onnx/ramp-members';
import { sliceModel } from '../../core/onnx/slicing';
import { SeededRandom } from '../../core/util/random';
import {
  analysedFixture,
  floats,
  maxAbsDiff,
  runChain,
  servingBatches,
  type AnalysedFixture,
} from './fixture-runs';

const SAMPLES = 16;

/** PyTorch's AdaptiveAvgPool2d then flatten, written out from its definition, in double precision. */
function adaptiveAvgPool(data: Float32Array, dims: readonly number[], grid: number): Float64Array {
  const [batch, channels, height, width] = dims as [number, number, number, number];
  const out = new Float64Array(batch * channels * grid * grid);
  let at = 0;
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < grid; i++)
        for (let j = 0; j < grid; j++) {
          const [h0, h1] = [Math.floor((i * height) / grid), Math.ceil(((i + 1) * height) / grid)];
          const [w0, w1] = [Math.floor((j * width) / grid), Math.ceil(((j + 1) * width) / grid)];
          let sum = 0;
          for (let h = h0; h < h1; h++)
            for (let w = w0; w < w1; w++)
              sum += data[((b * channels + c) * height + h) * width + w] as number;
          out[at++] = sum / ((h1 - h0) * (w1 - w0));
        }
  return out;
}

/** Token 0, the mean over unmasked tokens, or both, per row. */
function sequencePool(
  data: Float32Array,
  dims: readonly number[],
  mask: BigInt64Array,
  pool: string,
): Float64Array {
  const [batch, tokens, hidden] = dims as [number, number, number];
  const parts = pool === 'first+mean' ? 2 : 1;
  const out = new Float64Array(batch * hidden * parts);
  for (let b = 0; b < batch; b++) {
    const row = b * hidden * parts;
    let count = 0;
    for (let t = 0; t < tokens; t++) if (mask[b * tokens + t] === 1n) count++;
    for (let k = 0; k < hidden; k++) {
      const first = data[b * tokens * hidden + k] as number;
      let sum = 0;
      for (let t = 0; t < tokens; t++)
        if (mask[b * tokens + t] === 1n) sum += data[(b * tokens + t) * hidden + k] as number;
      const mean = sum / Math.max(count, 1);
      if (pool === 'first') out[row + k] = first;
      else if (pool === 'mean') out[row + k] = mean;
      else {
        out[row + k] = first;
        out[row + hidden + k] = mean;
      }
    }
  }
  return out;
}

function referencePool(
  member: RampMember,
  activation: { data: Float32Array; dims: readonly number[] },
  mask?: BigInt64Array,
): Float64Array {
  if (member.type === 'image') return adaptiveAvgPool(activation.data, activation.dims, member.grid);
  return sequencePool(activation.data, activation.dims, mask as BigInt64Array, member.pool);
}

/** softmax(features · W + b) per row, in double precision. */
function referenceProbabilities(
  features: Float64Array,
  weights: Float32Array,
  bias: Float32Array,
): Float64Array {
  const classes = bias.length;
  const size = weights.length / classes;
  const rows = features.length / size;
  const probs = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    const logits = Array.from(bias, Number);
    for (let j = 0; j < size; j++)
      for (let k = 0; k < classes; k++)
        logits[k]! += (features[r * size + j] as number) * (weights[j * classes + k] as number);
    const top = Math.max(...logits);
    const exps = logits.map((value) => Math.exp(value - top));
    const total = exps.reduce((a, b) => a + b, 0);
    exps.forEach((value, k) => (probs[r * classes + k] = value / total));
  }
  return probs;
}

function seededRamp(
  size: number,
  classes: number,
  seed: number,
): { weights: Float32Array; bias: Float32Array } {
  const random = new SeededRandom(seed);
  return {
    weights: Float32Array.from({ length: size * classes }, () => random.normal() * 0.05),
    bias: Float32Array.from({ length: classes }, () => random.normal() * 0.1),
  };
}

interface Setup {
  readonly fixture: AnalysedFixture;
  readonly batch: PlainFeeds;
  readonly cutIds: readonly [string, string];
  readonly members: readonly RampMember[];
  readonly classes: number;
  readonly mask?: BigInt64Array;
}

async function setUp(name: string, cutIds: [string, string]): Promise<Setup> {
  const fixture = await analysedFixture(name);
  const [batch] = await servingBatches(fixture.fixture, SAMPLES, SAMPLES);
  const members = fixture.analysis.candidates[0]!.kind === 'image' ? IMAGE_MEMBERS : SEQUENCE_MEMBERS;
  const mask = batch!.attention_mask?.data;
  return {
    fixture,
    batch: batch!,
    cutIds,
    members,
    classes: fixture.fixture.spec.classes.length,
    ...(mask instanceof BigInt64Array ? { mask } : {}),
  };
}

describe.each([
  ['mnist-resnet', ['c3', 'c7']],
  ['spam-bert', ['c0', 'c4']],
] as const)('ramps on %s', (name, cutIds) => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp(name, [...cutIds]);
  });

  it('captures features equal to pooling the activation independently', async () => {
    // Given the feature model for every member at two candidates, and the activations there (from segments)
    const { fixture, batch, members } = setup;
    const { model, analysis } = fixture;
    const requests = setup.cutIds.flatMap((candidateId) =>
      members.map((member) => ({ candidateId, member })),
    );
    const featureModel = buildFeatureModel(model, analysis, requests);
    const segments = sliceModel(model, analysis, { candidateIds: setup.cutIds });

    // When both run on the same serving inputs
    const [captured] = await runChain([featureModel], [batch]);
    const [chained] = await runChain(
      segments.map((segment) => segment.bytes),
      [batch],
    );

    // Then the original output is still there, and every feature equals the plain-TypeScript pooling
    expect(maxAbsDiff(floats(captured!, 'logits').data, floats(chained!, 'logits').data)).toBeLessThanOrEqual(
      1e-4,
    );
    for (const { candidateId, member } of requests) {
      const candidate = analysis.candidates.find((c) => c.id === candidateId)!;
      const feature = floats(captured!, featureOutputName(candidateId, member));
      expect(feature.dims).toEqual([SAMPLES, featureSize(member, candidate.shape)]);
      const expected = referencePool(member, floats(chained!, candidate.tensor), setup.mask);
      expect(maxAbsDiff(feature.data, expected)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('attaches ramps whose probabilities sum to 1 and equal softmax(feature·W+b), as the standalone ramp model does', async () => {
    // Given the model cut at two candidates, with a hand-set ramp on each cut's activation
    const { fixture, batch, classes } = setup;
    const { model, analysis } = fixture;
    const segments = sliceModel(model, analysis, { candidateIds: setup.cutIds });
    const ramps = setup.cutIds.map((candidateId, index) => {
      const candidate = analysis.candidates.find((c) => c.id === candidateId)!;
      const member = setup.members[setup.members.length - 1 - index]!;
      return { candidate, member, ...seededRamp(featureSize(member, candidate.shape), classes, index + 1) };
    });
    const withRamps = segments.map((segment, index) => {
      const ramp = ramps[index];
      if (!ramp) return segment.bytes;
      return attachRamp(segment.bytes, {
        activation: ramp.candidate.tensor,
        member: ramp.member,
        weights: ramp.weights,
        bias: ramp.bias,
        outputName: `ramp:${ramp.candidate.id}`,
        attentionMask: analysis.attentionMask ?? null,
      });
    });

    // When the ramped segments run in order
    const [result] = await runChain(withRamps, [batch]);

    for (const ramp of ramps) {
      // Then each ramp output is a probability distribution per row
      const probs = floats(result!, `ramp:${ramp.candidate.id}`);
      expect(probs.dims).toEqual([SAMPLES, classes]);
      for (let row = 0; row < SAMPLES; row++) {
        const sum = probs.data.subarray(row * classes, (row + 1) * classes).reduce((a, b) => a + b, 0);
        expect(Math.abs(sum - 1)).toBeLessThanOrEqual(1e-5);
      }
      // And it equals softmax(pooled activation · W + b) computed here
      const activation = floats(result!, ramp.candidate.tensor);
      const features = referencePool(ramp.member, activation, setup.mask);
      expect(
        maxAbsDiff(probs.data, referenceProbabilities(features, ramp.weights, ramp.bias)),
      ).toBeLessThanOrEqual(1e-5);

      // And the standalone ramp model computes the same from the same activation
      const needsMask = ramp.candidate.kind === 'sequence';
      const standalone = buildRampModel(
        ramp.candidate.shape,
        ramp.candidate.dtype,
        ramp.member,
        ramp.weights,
        ramp.bias,
        needsMask,
      );
      const feeds: PlainFeeds = {
        activation: { dtype: 'float32', data: activation.data, dims: activation.dims },
      };
      if (needsMask && memberKey(ramp.member) !== 'first') feeds.attention_mask = batch.attention_mask!;
      const [alone] = await runChain([standalone], [feeds]);
      expect(maxAbsDiff(floats(alone!, 'probs').data, probs.data)).toBeLessThanOrEqual(1e-6);
    }
    // And the logits are unchanged by the ramps
    const [plain] = await runChain(
      segments.map((segment) => segment.bytes),
      [batch],
    );
    expect(maxAbsDiff(floats(result!, 'logits').data, floats(plain!, 'logits').data)).toBe(0);
  });
});

describe('ramp members', () => {
  it('round-trip through their keys and size their features from the activation shape', () => {
    for (const member of [...IMAGE_MEMBERS, ...SEQUENCE_MEMBERS])
      expect(parseMemberKey(memberKey(member))).toEqual(member);
    expect(IMAGE_MEMBERS.map((member) => featureSize(member, ['batch', 64, 14, 14]))).toEqual([
      64, 256, 1024,
    ]);
    expect(SEQUENCE_MEMBERS.map((member) => featureSize(member, ['batch', 128, 96]))).toEqual([96, 96, 192]);
  });

  it('refuses unknown keys and members that do not fit the activation', () => {
    expect(() => parseMemberKey('max4')).toThrow(
      /unknown ramp member max4; known members are avg1, avg2, avg4, first, mean, first\+mean/,
    );
    expect(() => featureSize({ type: 'image', pool: 'avg', grid: 2 }, ['batch', 128, 96])).toThrow(
      InputError,
    );
    expect(() => featureSize({ type: 'sequence', pool: 'mean' }, ['batch', 3, 8, 8])).toThrow(
      /pools sequence activations \[batch,T,H\]/,
    );
  });
});
