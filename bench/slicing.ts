/**
 * Slicing overhead: a cut model run segment by segment versus one session over the whole model,
 * at batch 8 on real serving inputs (target: ratio at most 1.02). Two cuts are measured: every
 * candidate (the worst case, what profiling uses) and three evenly spread candidates (what a
 * served config typically activates); each with one operator thread and with onnxruntime's
 * default (all cores). Rounds alternate which side runs first, and the reported figure is the
 * median of per-round ratios, so slow drifts of the machine affect both sides alike.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { sampleAt } from '../core/data/dataset';
import { createBatchEncoder } from '../core/inference/batch-encoding';
import { openSession } from '../core/inference/onnx-session';
import { runChain } from '../core/inference/segment-chain';
import { analyzeGraph } from '../core/onnx/graph-analysis';
import { readOnnxModel } from '../core/onnx/onnx-model';
import { sliceModel } from '../core/onnx/slicing';
import { median, quantile } from '../core/util/stats';
import { listFixtureModels, loadModelData } from '../core/zoo/fixtures';
import type { Benchmark } from './run';

const BATCH_SIZE = 8;
const ROUNDS = 40;
const RUNS_PER_ROUND = 5;

async function timeMs(runs: number, body: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  for (let i = 0; i < runs; i++) await body();
  return (performance.now() - began) / runs;
}

export const slicingBenchmark: Benchmark = {
  name: 'slicing',
  summary: 'chained segments vs one session, batch 8',
  async run() {
    const rows = [];
    for (const model of await listFixtureModels()) {
      const onnxModel = await readOnnxModel(model.onnxPath);
      const analysis = await analyzeGraph(onnxModel);
      const ids = analysis.candidates.map((c) => c.id);
      const spread = [1, 2, 3].map((k) => ids[Math.round((k * (ids.length - 1)) / 4)] as string);
      const stream = await loadModelData(model, 'serving');
      const feeds = createBatchEncoder(model.spec).encode(
        Array.from({ length: BATCH_SIZE }, (_, i) => sampleAt(stream, i)),
      );
      for (const [cut, candidateIds] of [
        ['all candidates', ids],
        ['3 candidates', spread],
      ] as const)
        for (const intraOpThreads of [1, 0]) {
          const segments = sliceModel(onnxModel, analysis, { candidateIds });
          const whole = await openSession(model.onnxPath, { intraOpThreads });
          const sessions = await Promise.all(segments.map((s) => openSession(s.bytes, { intraOpThreads })));
          const runWhole = () => whole.runAny(feeds);
          const runChained = () => runChain(sessions, segments, feeds);
          await timeMs(5, runWhole);
          await timeMs(5, runChained);
          const wholeMs: number[] = [];
          const chainMs: number[] = [];
          const ratios: number[] = [];
          for (let round = 0; round < ROUNDS; round++) {
            let w: number;
            let c: number;
            if (round % 2 === 0) {
              w = await timeMs(RUNS_PER_ROUND, runWhole);
              c = await timeMs(RUNS_PER_ROUND, runChained);
            } else {
              c = await timeMs(RUNS_PER_ROUND, runChained);
              w = await timeMs(RUNS_PER_ROUND, runWhole);
            }
            wholeMs.push(w);
            chainMs.push(c);
            ratios.push(c / w);
          }
          await Promise.all([whole, ...sessions].map((s) => s.release()));
          rows.push({
            model: model.spec.name,
            cut,
            threads: intraOpThreads === 0 ? 'all' : String(intraOpThreads),
            segments: segments.length,
            batchSize: BATCH_SIZE,
            wholeMsMedian: median(wholeMs),
            chainedMsMedian: median(chainMs),
            ratioMedian: median(ratios),
            ratioP25: quantile(ratios, 0.25),
            ratioP75: quantile(ratios, 0.75),
            rounds: ROUNDS,
            runsPerRound: RUNS_PER_ROUND,
          });
        }
    }
    process.stdout.write(
      `${'model'.padEnd(14)}${'cut'.padEnd(16)}${'threads'.padStart(8)}${'segments'.padStart(9)}${'whole ms'.padStart(10)}${'chained ms'.padStart(12)}${'ratio'.padStart(8)}  (p25-p75)\n`,
    );
    for (const r of rows) {
      process.stdout.write(
        `${r.model.padEnd(14)}${r.cut.padEnd(16)}${r.threads.padStart(8)}${String(r.segments).padStart(9)}${r.wholeMsMedian.toFixed(2).padStart(10)}${r.chainedMsMedian.toFixed(2).padStart(12)}${r.ratioMedian.toFixed(3).padStart(8)}  (${r.ratioP25.toFixed(3)}-${r.ratioP75.toFixed(3)})\n`,
      );
    }
    return {
      benchmark: 'slicing',
      target: 'chained/whole ratio <= 1.02 at batch 8',
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
      measuredAt: new Date().toISOString(),
      rows,
    };
  },
};
