/**
 * The slicing benchmark's explanation tooling on a real fixture: onnxruntime's own profile is read
 * back run by run, the chain's extra time is split into its parts, the floor model passes a cut's
 * tensors through unchanged, and bad command lines say what is allowed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { profileCut } from '../../bench/cut-cost/breakdown';
import { passThroughModel } from '../../core/onnx/pass-through';
import { parseSlicingOptions } from '../../bench/cut-cost/options';
import { fixtureSubjects, type Subject } from '../../bench/cut-cost/subject';
import { InputError } from '../../core/errors';
import type { PlainTensor } from '../../core/inference/batch-encoding';
import { openSession } from '../../core/inference/onnx-session';
import { parseRunProfile, readRunProfile } from '../../core/inference/run-profile';
import { runChain } from '../../core/inference/segment-chain';
import { sliceModel } from '../../core/onnx/slicing';
import { timeRounds } from '../../bench/cut-cost/timed-rounds';
import type { ModelSession } from '../../core/inference/onnx-session';

let mnist: Subject;

beforeAll(async () => {
  const subjects = await fixtureSubjects(8);
  mnist = subjects.find((s) => s.name === 'mnist-resnet') as Subject;
});

describe("onnxruntime's run profile", () => {
  it('gives one entry per run after the warm-up, with kernel time inside the run', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'apparate-profile-test-'));
    try {
      const session = await openSession(mnist.bytes, {
        intraOpThreads: 1,
        profileFilePrefix: join(folder, 'whole'),
      });
      for (let i = 0; i < 4; i++) await session.runAny(mnist.feeds);
      const path = await session.endProfiling();
      await session.release();
      const runs = await readRunProfile(path, 1);
      expect(runs).toHaveLength(3);
      for (const run of runs) {
        expect(run.kernelMs).toBeGreaterThan(0);
        expect(run.kernelMs).toBeLessThanOrEqual(run.runMs);
        expect([...run.opTypes.values()]).toContain('Conv');
        expect(run.order.length).toBe(run.nodeMs.size);
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses a file that is not a trace-event array', () => {
    expect(() => parseRunProfile({ traceEvents: [] })).toThrow(/JSON array of trace events/);
  });
});

describe('a cut, explained', () => {
  it('splits the chain’s extra time into runtime, executor and operator parts', async () => {
    const middle = mnist.analysis.candidates[Math.floor((mnist.analysis.candidates.length - 1) / 2)];
    const segments = sliceModel(mnist.model, mnist.analysis, { candidateIds: [middle?.id ?? ''] });
    const breakdown = await profileCut(mnist.bytes, segments, mnist.feeds, 5, { intraOpThreads: 1 });
    expect(breakdown.wholeMs).toBeGreaterThan(0);
    for (const part of [
      breakdown.outsideRuntimeMs,
      breakdown.executorMs,
      breakdown.addedOperatorsMs,
      breakdown.sameOperatorsMs,
    ])
      expect(Number.isFinite(part)).toBe(true);
    // The segments' boundary converts the blocked layout back and forth: operators the whole model lacks.
    expect(Object.keys(breakdown.addedByType).length).toBeGreaterThan(0);
    expect(breakdown.topChanges.length).toBeGreaterThan(0);
  });

  it('has a floor model that hands the cut’s tensors back unchanged', async () => {
    const cut = mnist.analysis.candidates[2];
    const segments = sliceModel(mnist.model, mnist.analysis, { candidateIds: [cut?.id ?? ''] });
    const sessions = await Promise.all(segments.map((s) => openSession(s.bytes, { intraOpThreads: 1 })));
    const floor = await openSession(passThroughModel(mnist.analysis, segments[0]?.outputs ?? []), {
      intraOpThreads: 1,
    });
    try {
      const available = await runChain(sessions, segments, mnist.feeds);
      const name = cut?.tensor ?? '';
      const passed = await floor.runAny({ [name]: available[name] as PlainTensor });
      expect(Array.from(passed[`${name}:out`]?.data as Float32Array)).toEqual(
        Array.from(available[name]?.data as Float32Array),
      );
    } finally {
      await Promise.all([...sessions, floor].map((s) => s.release()));
    }
  });
});

describe('a cut timed against its segments apart', () => {
  it('runs each segment in a block of its own after one untimed run, and reports the sum as a variant', async () => {
    const cut = mnist.analysis.candidates[3];
    const segments = sliceModel(mnist.model, mnist.analysis, { candidateIds: [cut?.id ?? ''] });
    const opened = await Promise.all(
      [mnist.bytes, ...segments.map((s) => s.bytes)].map((bytes) =>
        openSession(bytes, { intraOpThreads: 1 }),
      ),
    );
    const calls: string[] = [];
    const logged = (session: ModelSession, name: string): ModelSession => ({
      ...session,
      runAny: (feeds) => {
        calls.push(name);
        return session.runAny(feeds);
      },
    });
    const [whole, ...parts] = opened as [ModelSession, ...ModelSession[]];
    const chain = { sessions: parts.map((s, i) => logged(s, `seg${i}`)), segments };
    try {
      const result = await timeRounds(logged(whole, 'whole'), {}, [], [], mnist.feeds, 2, 2, chain);
      // Feeding the segments takes one chain run (seg0, seg1); then two warm-up passes over the
      // sides (at least three runs each) and two timed ones: each pass runs the whole model twice,
      // the floor (no sessions) and each segment three times in a row.
      const apartPass = ['seg0', 'seg0', 'seg0', 'seg1', 'seg1', 'seg1'];
      expect(calls.slice(0, 2)).toEqual(['seg0', 'seg1']);
      const passes = calls.slice(2).join(' ');
      expect(passes.split(apartPass.join(' ')).length - 1).toBe(4);
      expect(calls.filter((c) => c === 'whole')).toHaveLength(8);
      const apart = result.variants.apart;
      expect(apart?.ms.median).toBeGreaterThan(0);
      // The segments together do the whole model's work: their sum is of its order, not a
      // multiple of it (a block's total instead of its per-run time would read about 3) nor one
      // segment's share. Loose bounds: parallel test workers share the cores while this runs.
      expect(apart?.ratio.median).toBeGreaterThan(0.3);
      expect(apart?.ratio.median).toBeLessThan(2.5);
    } finally {
      await Promise.all(opened.map((s) => s.release()));
    }
  });
});

describe('the slicing benchmark’s command line', () => {
  it('reads models, shapes, cuts and threads', () => {
    const options = parseSlicingOptions([
      '--model',
      'm.onnx',
      '--input-shape',
      'input=3x224x224',
      '--cuts',
      'c1,c4',
      '--threads',
      '1',
    ]);
    expect(options.model).toBe('m.onnx');
    expect(options.inputShapes.get('input')).toEqual([3, 224, 224]);
    expect(options.cuts).toEqual([{ ids: ['c1', 'c4'] }]);
    expect(options.threads).toEqual([1]);
  });

  it.each([
    [['--input-shape', 'input=3xAx4'], /name=AxBxC/],
    [['--cuts', 'block3'], /middle, spread3, all, or candidate ids/],
    [['--rounds', '0'], /positive integer/],
    [['--frobnicate', '1'], /unknown option --frobnicate/],
    [['--model'], /--model needs a value/],
  ])('refuses %j with a message that says what is allowed', (args, message) => {
    expect(() => parseSlicingOptions(args)).toThrow(InputError);
    expect(() => parseSlicingOptions(args)).toThrow(message);
  });
});
