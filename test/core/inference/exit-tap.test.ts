import type { PlainTensor } from '../../../core/inference/batch-encoding';
import { inFlightOutputs } from '../../../core/inference/direct-session';
import { exitTapState, runTapped, withExitListener } from '../../../core/inference/exit-tap';
import { openSession, type ModelSession } from '../../../core/inference/onnx-session';
import { runChain, maxAbsDiff } from '../../../core/inference/segment-chain';
import { ensureSharedArena } from '../../../core/inference/shared-arena';
import { tappedModel } from '../../../core/onnx/exit-taps';
import { analyzeGraph, type GraphAnalysis } from '../../../core/onnx/graph-analysis';
import { readOnnxModel, type OnnxModel } from '../../../core/onnx/onnx-model';
import { attachRamp, featureSize, type RampAttachment } from '../../../core/onnx/ramp-heads';
import { parseMemberKey } from '../../../core/onnx/ramp-members';
import { sliceModel } from '../../../core/onnx/slicing';
import { fixtureBatch } from '../../support/fixture-batch';

/** A ramp on a candidate with seeded weights (what it computes is checked, not what it learnt). */
function seededRamp(analysis: GraphAnalysis, id: string, key: string, classes: number): RampAttachment {
  const candidate = analysis.candidates.find((c) => c.id === id);
  if (!candidate) throw new Error(`no candidate ${id}`);
  const member = parseMemberKey(key);
  const size = featureSize(member, candidate.shape);
  let state = 17 + id.length;
  const next = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.2;
  return {
    activation: candidate.tensor,
    member,
    weights: Float32Array.from({ length: size * classes }, next),
    bias: Float32Array.from({ length: classes }, next),
    outputName: `ramp:${id}`,
    attentionMask: analysis.attentionMask ?? null,
  };
}

/** The same ramps served the way before taps: the model cut at them, each on its segment. */
async function cutReference(
  model: OnnxModel,
  analysis: GraphAnalysis,
  ids: readonly string[],
  ramps: readonly RampAttachment[],
  feeds: Record<string, PlainTensor>,
) {
  const segments = sliceModel(model, analysis, { candidateIds: [...ids] });
  const sessions: ModelSession[] = [];
  try {
    for (const [index, segment] of segments.entries()) {
      const ramp = ramps[index];
      sessions.push(
        await openSession(ramp ? attachRamp(segment.bytes, ramp) : segment.bytes, {
          intraOpThreads: 1,
          blocking: true,
        }),
      );
    }
    return await runChain(
      sessions,
      segments.map((segment, index) => ({
        // A ramp that averages tokens takes the attention mask as an input of its segment.
        inputs: sessions[index]?.inputNames ?? segment.inputs,
        outputs: [...segment.outputs, ...(ramps[index] ? [ramps[index].outputName] : [])],
      })),
      feeds,
    );
  } finally {
    await Promise.all(sessions.map((session) => session.release()));
  }
}

describe('exit taps: ramps answered from inside one run of the whole model', () => {
  beforeAll(() => {
    ensureSharedArena();
  });

  it('are available here, where sessions run through the C API', () => {
    expect(exitTapState()).toEqual({ available: true });
  });

  it.each([
    ['mnist-resnet', ['c0', 'c3'], 'avg1'],
    ['spam-bert', ['c1', 'c3'], 'first+mean'],
  ] as const)(
    'hand %s ramps at %j the probabilities the cut model gives, shallow first, and the same logits',
    async (name, ids, key) => {
      // Given the fixture with two seeded ramps, tapped in the whole model
      const { fixture, feeds } = await fixtureBatch(name, 8);
      const model = await readOnnxModel(fixture.onnxPath);
      const analysis = await analyzeGraph(model);
      const classes = fixture.spec.classes.length;
      const ramps = ids.map((id) => seededRamp(analysis, id, key, classes));
      const tapped = await openSession(tappedModel(model, analysis, ramps), {
        intraOpThreads: 1,
        blocking: true,
        exitTaps: true,
      });
      try {
        // When it runs twice, a listener collecting what each tap hands out
        const expected = await cutReference(model, analysis, ids, ramps, feeds);
        for (let run = 0; run < 2; run++) {
          const heard: { tap: number; probs: PlainTensor; during: boolean }[] = [];
          const outputs = await runTapped(
            tapped,
            feeds,
            ramps.map((ramp) => ramp.outputName),
            // A copy: the run's own buffers are the listener's only while the run goes on.
            (tap, probs) =>
              heard.push({
                tap,
                probs: { ...probs, data: probs.data.slice() },
                during: inFlightOutputs() !== undefined,
              }),
          );

          // Then each tap fired once, shallow to deep, during the run (the second run's outputs are
          // written into buffers handed over before it, the first's are not), with the cut model's
          // ramp probabilities
          expect(heard.map((event) => event.tap)).toEqual([0, 1]);
          expect(heard.map((event) => event.during)).toEqual(run === 0 ? [false, false] : [true, true]);
          heard.forEach(({ tap, probs }) => {
            const reference = expected[ramps[tap]?.outputName as string];
            expect(probs.dims).toEqual([8, classes]);
            expect(maxAbsDiff(probs.data as Float32Array, reference?.data as Float32Array)).toBeLessThan(
              1e-5,
            );
          });
          // And the model's own output is the cut model's, the ramps' probabilities beside it
          const output = analysis.outputs[0] as string;
          expect(
            maxAbsDiff(outputs[output]?.data as Float32Array, expected[output]?.data as Float32Array),
          ).toBeLessThan(1e-4);
          expect(Object.keys(outputs).sort()).toEqual(
            [output, ...ramps.map((ramp) => ramp.outputName)].sort(),
          );
        }
      } finally {
        await tapped.release();
      }
    },
  );

  it('throws what a listener threw once the run is over, and serves the next run', async () => {
    // Given mnist-resnet tapped at c1
    const { fixture, feeds } = await fixtureBatch('mnist-resnet', 2);
    const model = await readOnnxModel(fixture.onnxPath);
    const analysis = await analyzeGraph(model);
    const tapped = await openSession(
      tappedModel(model, analysis, [seededRamp(analysis, 'c1', 'avg1', fixture.spec.classes.length)]),
      { intraOpThreads: 1, blocking: true, exitTaps: true },
    );
    try {
      // When the listener of one run throws
      const failing = () =>
        withExitListener(
          () => {
            throw new Error('the main thread is gone');
          },
          () => tapped.runAny(feeds),
        );

      // Then that run reports it, and the next run's listener hears its tap
      expect(failing).toThrow('the main thread is gone');
      const heard: number[] = [];
      await withExitListener(
        (tap) => void heard.push(tap),
        () => tapped.runAny(feeds),
      );
      expect(heard).toEqual([0]);
    } finally {
      await tapped.release();
    }
  });

  it('registers again, and serves, where the module is loaded afresh in the same process', async () => {
    // Given this module loaded a second time, as a test runner loads it for each file
    expect(exitTapState()).toEqual({ available: true });
    let again: unknown;
    let heard: number[] = [];
    await jest.isolateModulesAsync(async () => {
      const fresh = await import('../../../core/inference/exit-tap');
      const sessions = await import('../../../core/inference/onnx-session');
      // When it registers the operators and serves a tapped model
      again = fresh.exitTapState();
      const { fixture, feeds } = await fixtureBatch('mnist-resnet', 2);
      const model = await readOnnxModel(fixture.onnxPath);
      const analysis = await analyzeGraph(model);
      const ramp = seededRamp(analysis, 'c2', 'avg1', fixture.spec.classes.length);
      const tapped = await sessions.openSession(tappedModel(model, analysis, [ramp]), {
        intraOpThreads: 1,
        blocking: true,
        exitTaps: true,
      });
      try {
        const taps: number[] = [];
        await fresh.runTapped(tapped, feeds, [ramp.outputName], (tap) => void taps.push(tap));
        heard = taps;
      } finally {
        await tapped.release();
      }
    });

    // Then it is available there too, and its tap fires
    expect(again).toEqual({ available: true });
    expect(heard).toEqual([0]);
  });

  it('refuses a tap on a tensor no node produces, naming it', () => {
    return expect(
      (async () => {
        const model = await readOnnxModel('zoo/models/mnist-resnet/model.onnx');
        const analysis = await analyzeGraph(model);
        return tappedModel(model, analysis, [
          { ...seededRamp(analysis, 'c0', 'avg1', 10), activation: 'no-such-tensor' },
        ]);
      })(),
    ).rejects.toThrow('no-such-tensor');
  });
});
