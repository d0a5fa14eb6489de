/**
 * Slicing overhead and where it goes: a cut model run segment by segment versus one session over
 * the whole model, at batch 8 (target: one cut at most 1% of the whole model). For each model, cut
 * layout and operator-thread count it reports, from interleaved rounds on the same machine at the
 * same time, the chain's per-round ratio to the whole model and the floor's (one pass-through run
 * per cut: what a boundary cannot avoid) and the segments' own, each timed
 * apart with its session warm (what is left, chain minus apart, is the cost of switching sessions
 * at each boundary), the chain and the whole model with a memory arena per session instead of the
 * process's shared one, both again through onnxruntime-node's binding instead of on buffers of our
 * own (core/inference/direct-session.ts), then onnxruntime's per-operator profile of both split
 * into outside-runtime, executor and kernel time (see cut-cost/breakdown.ts; profiled runs go
 * through the binding, which writes the profile).
 *
 * `npm run bench -- slicing` measures the fixtures; `--model file.onnx` any classifier (see
 * cut-cost/options.ts for the flags), e.g. the standard architectures that
 * zoo/recipes/standard_architectures.py exports.
 */
import { cpus, loadavg } from 'node:os';
import { directRunState } from '../core/inference/direct-session';
import { openSession, type ModelSession } from '../core/inference/onnx-session';
import { exitTapState, runTapped } from '../core/inference/exit-tap';
import { tappedModel } from '../core/onnx/exit-taps';
import type { Candidate } from '../core/onnx/graph-analysis';
import { featureSize, rampOutputName, type RampAttachment } from '../core/onnx/ramp-heads';
import { parseMemberKey } from '../core/onnx/ramp-members';
import { ensureSharedArena } from '../core/inference/shared-arena';
import { sliceModel } from '../core/onnx/slicing';
import { profileCut, type CutBreakdown } from './cut-cost/breakdown';
import { floorModels } from '../core/onnx/pass-through';
import { parseSlicingOptions, SLICING_USAGE, type CutSpec, type SlicingOptions } from './cut-cost/options';
import { laneRounds } from './cut-cost/lane-rounds';
import { fileSubject, fixtureSubjects, type Subject } from './cut-cost/subject';
import { boundaryFeedsOf, timeRounds, type SideFigures, type Spread } from './cut-cost/timed-rounds';
import type { Benchmark } from './run';

function cutIds(subject: Subject, spec: CutSpec): { label: string; ids: string[] } {
  const ids = subject.analysis.candidates.map((c) => c.id);
  if (ids.length === 0) throw new Error(`${subject.name} has no candidate positions to cut at`);
  if (spec === 'all') return { label: 'all', ids };
  if (spec === 'middle') return { label: 'middle', ids: [ids[Math.floor((ids.length - 1) / 2)] as string] };
  if (spec === 'spread3') {
    const picked = [1, 2, 3].map((k) => ids[Math.round((k * (ids.length - 1)) / 4)] as string);
    return { label: 'spread3', ids: [...new Set(picked)] };
  }
  return { label: spec.ids.join(','), ids: [...spec.ids] };
}

interface Row {
  readonly model: string;
  readonly cut: string;
  readonly candidates: readonly string[];
  readonly cuts: number;
  readonly threads: string;
  readonly batchSize: number;
  readonly wholeMs: Spread;
  readonly chainedMs: Spread;
  readonly ratio: Spread;
  /** (ratio - 1) / cuts, in percent of the whole model. */
  readonly perCutPercent: number;
  readonly floorRatio: Spread;
  readonly perCutFloorPercent: number;
  /** The same in process CPU time, steadier than wall time on a shared machine. */
  readonly cpuRatio: Spread;
  readonly perCutCpuPercent: number;
  readonly perCutFloorCpuPercent: number;
  /** The same chain cut without layout anchors, in the same rounds: what the anchors save. */
  readonly unanchored: {
    readonly ratio: Spread;
    readonly cpuRatio: Spread;
    readonly perCutPercent: number;
    readonly perCutCpuPercent: number;
  };
  /**
   * The chain's segments each timed in a block of their own runs, summed (cut-cost/timed-rounds.ts):
   * the cut's cost with every session's memory warm. `switchPerCutPercent`, the chain's per-cut
   * cost minus this one's, is what running a different session at each boundary costs.
   */
  readonly apart: { readonly ratio: Spread; readonly perCutPercent: number };
  readonly switchPerCutPercent: number;
  /**
   * The same chain with every session allocating from an arena of its own, as before sessions
   * shared the process's arena (core/inference/shared-arena.ts), and the whole model so too: what
   * the shared arena saves a cut, and whether it slows the whole model (ratio to the whole model
   * on the shared arena, so above 1 where sharing is faster).
   */
  readonly ownArenas: { readonly ratio: Spread; readonly cpuRatio: Spread; readonly perCutPercent: number };
  readonly wholeOwnArena: { readonly ratio: Spread };
  /** Whether the shared arena was in use at all (it is not where onnxruntime's library is unreachable). */
  readonly sharedArena: boolean;
  /**
   * The same chain and whole model run through onnxruntime-node's binding, which copies every
   * output into a new array, instead of on buffers of our own (core/inference/direct-session.ts);
   * ratios to the direct whole model, and the binding chain's per-cut cost against the binding's
   * own whole model (the ratio of the two medians).
   */
  readonly binding: { readonly ratio: Spread; readonly perCutPercent: number };
  readonly wholeBinding: { readonly ratio: Spread };
  /** Whether the other sides ran directly at all (not where turned off or unreachable). */
  readonly directRun: boolean;
  /**
   * The whole model uncut with a ramp tapped at each of the cut's candidates (exit-tap.ts), as the
   * worker serves it where taps are available: ratio to the whole model, and per exit in percent.
   * Each ramp's head is included (seeded weights, the cheapest member: 1×1 average or first
   * token), so this is what an exit costs with its operators, where the chain has none. Absent
   * where exit taps are not available.
   */
  readonly tapped?: { readonly ratio: Spread; readonly cpuRatio: Spread; readonly perExitPercent: number };
  readonly breakdown?: CutBreakdown;
  readonly rounds: number;
  readonly runsPerRound: number;
}

const pct = (ratio: number, cuts: number) => ((ratio - 1) / cuts) * 100;

/**
 * The whole model with a seeded ramp tapped at each candidate, and a session over it that runs
 * as the worker's lanes do: each tap's probabilities copied out as its node runs.
 */
async function tappedSide(
  subject: Subject,
  ids: readonly string[],
  sessionOptions: { readonly intraOpThreads: number; readonly blocking: boolean },
): Promise<{ session: ModelSession; timed: ModelSession }> {
  const { model, analysis } = subject;
  const whole = await openSession(subject.bytes, sessionOptions);
  const output = analysis.outputs[0] as string;
  const classes = (await whole.runAny(subject.feeds))[output]?.dims.at(-1) ?? 2;
  await whole.release();
  const ramps = ids.map((id, index): RampAttachment => {
    const candidate = analysis.candidates.find((c) => c.id === id) as Candidate;
    const member = parseMemberKey(candidate.kind === 'image' ? 'avg1' : 'first');
    const size = featureSize(member, candidate.shape);
    return {
      activation: candidate.tensor,
      member,
      weights: Float32Array.from(
        { length: size * classes },
        (_, i) => (((i * 7919 + index) % 101) - 50) / 5000,
      ),
      bias: new Float32Array(classes),
      outputName: rampOutputName(id),
      attentionMask: analysis.attentionMask ?? null,
    };
  });
  const session = await openSession(tappedModel(model, analysis, ramps), {
    ...sessionOptions,
    exitTaps: true,
  });
  const probs = ramps.map((ramp) => ramp.outputName);
  const timed: ModelSession = {
    ...session,
    runAny: (feeds) => runTapped(session, feeds, probs, (_, tensor) => void tensor.data.slice()),
  };
  return { session, timed };
}

export const slicingBenchmark: Benchmark = {
  name: 'slicing',
  summary: 'what a cut costs against one session, and where the time goes; --model for any ONNX file',
  usage: SLICING_USAGE,
  async run(args) {
    const options = parseSlicingOptions(args);
    const subjects = options.model
      ? [await fileSubject(options.model, options.inputShapes, options.batchSize)]
      : await fixtureSubjects(options.batchSize);
    if (options.lanes !== undefined) {
      const laneRows = [];
      for (const subject of subjects)
        for (const spec of options.cuts)
          laneRows.push(await measureLanes(subject, spec, options.lanes, options));
      return { ...header(args), lanes: options.lanes, rows: laneRows };
    }
    const rows: Row[] = [];
    for (const subject of subjects)
      for (const spec of options.cuts)
        for (const intraOpThreads of options.threads) {
          const { label, ids } = cutIds(subject, spec);
          const segments = sliceModel(subject.model, subject.analysis, { candidateIds: ids });
          const unanchored = sliceModel(
            subject.model,
            subject.analysis,
            { candidateIds: ids },
            { layoutAnchors: false },
          );
          // Blocking runs, as the worker's inference threads run them: the public API's event-loop
          // turn before every run would be charged to each extra segment, and serving never pays it.
          const sessionOptions = { intraOpThreads, blocking: true };
          const sessions: ModelSession[] = [];
          const open = async (bytes: Uint8Array, sharedArena = true, direct = true) => {
            const session = await openSession(bytes, { ...sessionOptions, sharedArena, direct });
            sessions.push(session);
            return session;
          };
          try {
            const whole = await open(subject.bytes);
            const chain = { sessions: [] as ModelSession[], segments };
            for (const segment of segments) chain.sessions.push(await open(segment.bytes));
            const plain = { sessions: [] as ModelSession[], segments: unanchored };
            for (const segment of unanchored) plain.sessions.push(await open(segment.bytes));
            const own = { sessions: [] as ModelSession[], segments };
            for (const segment of segments) own.sessions.push(await open(segment.bytes, false));
            const alone = (session: ModelSession) => ({
              sessions: [session],
              segments: [{ inputs: session.inputNames, outputs: session.outputNames }],
            });
            const wholeAlone = alone(await open(subject.bytes, false));
            const bound = { sessions: [] as ModelSession[], segments };
            for (const segment of segments) bound.sessions.push(await open(segment.bytes, true, false));
            const wholeBound = alone(await open(subject.bytes, true, false));
            const floors = [];
            for (const bytes of floorModels(subject.analysis, segments)) floors.push(await open(bytes));
            const tapping = exitTapState().available
              ? await tappedSide(subject, ids, sessionOptions)
              : undefined;
            if (tapping) sessions.push(tapping.session);
            const boundary = await boundaryFeedsOf(chain, subject.feeds);
            const timed = await timeRounds(
              whole,
              {
                chained: chain,
                unanchored: plain,
                ownArenas: own,
                wholeOwnArena: wholeAlone,
                binding: bound,
                wholeBinding: wholeBound,
                ...(tapping ? { tapped: alone(tapping.timed) } : {}),
              },
              floors,
              boundary,
              subject.feeds,
              options.rounds,
              options.runsPerRound,
              chain,
            );
            await Promise.all(sessions.splice(0).map((s) => s.release()));
            const breakdown = options.breakdown
              ? await profileCut(subject.bytes, segments, subject.feeds, options.profiledRuns, sessionOptions)
              : undefined;
            const chained = timed.variants.chained as SideFigures;
            const withoutAnchors = timed.variants.unanchored as SideFigures;
            const apart = timed.variants.apart as SideFigures;
            const ownArenas = timed.variants.ownArenas as SideFigures;
            const perCut = pct(chained.ratio.median, ids.length);
            const apartPerCut = pct(apart.ratio.median, ids.length);
            const row: Row = {
              model: subject.name,
              cut: label,
              candidates: ids,
              cuts: ids.length,
              threads: intraOpThreads === 0 ? 'all' : String(intraOpThreads),
              batchSize: options.batchSize,
              wholeMs: timed.wholeMs,
              chainedMs: chained.ms,
              ratio: chained.ratio,
              perCutPercent: perCut,
              floorRatio: timed.floorRatio,
              perCutFloorPercent: pct(timed.floorRatio.median, ids.length),
              cpuRatio: chained.cpuRatio,
              perCutCpuPercent: pct(chained.cpuRatio.median, ids.length),
              unanchored: {
                ratio: withoutAnchors.ratio,
                cpuRatio: withoutAnchors.cpuRatio,
                perCutPercent: pct(withoutAnchors.ratio.median, ids.length),
                perCutCpuPercent: pct(withoutAnchors.cpuRatio.median, ids.length),
              },
              perCutFloorCpuPercent: pct(timed.floorCpuRatio.median, ids.length),
              apart: { ratio: apart.ratio, perCutPercent: apartPerCut },
              switchPerCutPercent: perCut - apartPerCut,
              ownArenas: {
                ratio: ownArenas.ratio,
                cpuRatio: ownArenas.cpuRatio,
                perCutPercent: pct(ownArenas.ratio.median, ids.length),
              },
              wholeOwnArena: { ratio: (timed.variants.wholeOwnArena as SideFigures).ratio },
              sharedArena: ensureSharedArena().shared,
              binding: {
                ratio: (timed.variants.binding as SideFigures).ratio,
                perCutPercent: pct(
                  (timed.variants.binding as SideFigures).ratio.median /
                    (timed.variants.wholeBinding as SideFigures).ratio.median,
                  ids.length,
                ),
              },
              wholeBinding: { ratio: (timed.variants.wholeBinding as SideFigures).ratio },
              directRun: directRunState().direct,
              ...(timed.variants.tapped
                ? {
                    tapped: {
                      ratio: timed.variants.tapped.ratio,
                      cpuRatio: timed.variants.tapped.cpuRatio,
                      perExitPercent: pct(timed.variants.tapped.ratio.median, ids.length),
                    },
                  }
                : {}),
              ...(breakdown ? { breakdown } : {}),
              rounds: options.rounds,
              runsPerRound: options.runsPerRound,
            };
            rows.push(row);
            printRow(row);
          } finally {
            await Promise.all(sessions.map((s) => s.release()));
          }
        }
    return { ...header(args), rows };
  },
};

function header(args: readonly string[]) {
  return {
    benchmark: 'slicing',
    target: 'one cut costs at most 1% of the whole model at batch 8, or is within 0.5 points of its floor',
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAverage1m: loadavg()[0],
    },
    measuredAt: new Date().toISOString(),
    args,
  };
}

/** The lanes measurement of one model and cut layout (see cut-cost/lane-rounds.ts). */
async function measureLanes(subject: Subject, spec: CutSpec, lanes: number, options: SlicingOptions) {
  const { label, ids } = cutIds(subject, spec);
  const segments = sliceModel(subject.model, subject.analysis, { candidateIds: ids });
  const sessions: ModelSession[] = [];
  let boundary;
  try {
    for (const segment of segments)
      sessions.push(await openSession(segment.bytes, { intraOpThreads: 1, blocking: true }));
    boundary = await boundaryFeedsOf({ sessions, segments }, subject.feeds);
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
  const figures = await laneRounds(
    subject.bytes,
    segments,
    floorModels(subject.analysis, segments),
    subject.feeds,
    boundary,
    { lanes, rounds: options.rounds, phaseMs: options.phaseMs },
  );
  const row = {
    model: subject.name,
    cut: label,
    candidates: ids,
    cuts: ids.length,
    batchSize: options.batchSize,
    ...figures,
    perCutPercent: pct(figures.chainedCost.median, ids.length),
    perCutFloorPercent: pct(figures.floorCost.median, ids.length),
  };
  const f = (n: number, d = 4) => n.toFixed(d);
  const { chainedCost: c, floorCost: fl } = figures;
  process.stdout.write(
    `${row.model} cut ${label} (${ids.length}) ${lanes} lanes batch ${row.batchSize}: whole ${f(figures.batchesPerSecond.whole.median, 1)} batches/s, ` +
      `chain costs ${f(c.median)} (p25-p75 ${f(c.p25)}-${f(c.p75)}), per cut ${row.perCutPercent.toFixed(2)}% | ` +
      `floor ${f(fl.median)} (${f(fl.p25)}-${f(fl.p75)}), per cut ${row.perCutFloorPercent.toFixed(2)}%\n`,
  );
  return row;
}

function printRow(r: Row): void {
  const f = (n: number, d = 2) => n.toFixed(d);
  process.stdout.write(
    `${r.model} cut ${r.cut} (${r.cuts} cut${r.cuts > 1 ? 's' : ''}) threads ${r.threads} batch ${r.batchSize}: ` +
      `whole ${f(r.wholeMs.median)} ms, chained ${f(r.chainedMs.median)} ms, ratio ${f(r.ratio.median, 4)} ` +
      `(p25-p75 ${f(r.ratio.p25, 4)}-${f(r.ratio.p75, 4)}), per cut ${f(r.perCutPercent)}% | floor per cut ${f(r.perCutFloorPercent)}% ` +
      `(ratio ${f(r.floorRatio.median, 4)}, ${f(r.floorRatio.p25, 4)}-${f(r.floorRatio.p75, 4)})\n` +
      `  CPU time: ratio ${f(r.cpuRatio.median, 4)} (p25-p75 ${f(r.cpuRatio.p25, 4)}-${f(r.cpuRatio.p75, 4)}), per cut ${f(r.perCutCpuPercent)}%, floor per cut ${f(r.perCutFloorCpuPercent)}%\n` +
      `  without layout anchors: ratio ${f(r.unanchored.ratio.median, 4)} (p25-p75 ${f(r.unanchored.ratio.p25, 4)}-${f(r.unanchored.ratio.p75, 4)}), per cut ${f(r.unanchored.perCutPercent)}%; ` +
      `CPU ratio ${f(r.unanchored.cpuRatio.median, 4)}, per cut ${f(r.unanchored.perCutCpuPercent)}%\n` +
      `  segments apart (each session warm): ratio ${f(r.apart.ratio.median, 4)} (p25-p75 ${f(r.apart.ratio.p25, 4)}-${f(r.apart.ratio.p75, 4)}), ` +
      `per cut ${f(r.apart.perCutPercent)}%; switching sessions per cut ${f(r.switchPerCutPercent)}%\n` +
      `  each session its own arena${r.sharedArena ? '' : ' (no shared arena here: all sides own)'}: chain ratio ${f(r.ownArenas.ratio.median, 4)} ` +
      `(p25-p75 ${f(r.ownArenas.ratio.p25, 4)}-${f(r.ownArenas.ratio.p75, 4)}), per cut ${f(r.ownArenas.perCutPercent)}%; ` +
      `whole model ${f(r.wholeOwnArena.ratio.median, 4)} (${f(r.wholeOwnArena.ratio.p25, 4)}-${f(r.wholeOwnArena.ratio.p75, 4)})\n` +
      `  through onnxruntime-node's binding${r.directRun ? '' : ' (no direct runs here: all sides through it)'}: chain ratio ${f(r.binding.ratio.median, 4)} ` +
      `(p25-p75 ${f(r.binding.ratio.p25, 4)}-${f(r.binding.ratio.p75, 4)}), per cut ${f(r.binding.perCutPercent)}% of its own whole model; ` +
      `whole model ${f(r.wholeBinding.ratio.median, 4)} (${f(r.wholeBinding.ratio.p25, 4)}-${f(r.wholeBinding.ratio.p75, 4)})\n` +
      (r.tapped
        ? `  uncut, a ramp tapped at each candidate (heads included): ratio ${f(r.tapped.ratio.median, 4)} ` +
          `(p25-p75 ${f(r.tapped.ratio.p25, 4)}-${f(r.tapped.ratio.p75, 4)}), per exit ${f(r.tapped.perExitPercent)}%; ` +
          `CPU ratio ${f(r.tapped.cpuRatio.median, 4)}\n`
        : '  exit taps not available here\n'),
  );
  const b = r.breakdown;
  if (!b) return;
  process.stdout.write(
    `  profiled extra per batch ${f(b.totalMs, 3)} ms of ${f(b.wholeMs)}: outside onnxruntime ${f(b.outsideRuntimeMs, 3)}, ` +
      `executor ${f(b.executorMs, 3)}, added operators ${f(b.addedOperatorsMs, 3)} ${JSON.stringify(Object.fromEntries(Object.entries(b.addedByType).map(([k, v]) => [k, Number(v.toFixed(3))])))}, ` +
      `same operators ${f(b.sameOperatorsMs, 3)} (segment starts ${f(b.segmentStartsMs, 3)})\n`,
  );
  for (const c of b.topChanges)
    process.stdout.write(`    ${c.op} ${c.node}: ${c.deltaMs >= 0 ? '+' : ''}${f(c.deltaMs, 3)} ms\n`);
}
