/**
 * Text generation with early exits against the full model, on the same prompts, in one run:
 * time per token (the gap between a row's successive tokens) p50 and p95, tokens per second,
 * per-token agreement, and exact match and ROUGE-L of each generated text against the full
 * model's. Batch 1 and batch 8 (continuous batching: a finished row's place goes to the next
 * prompt).
 *
 * Thresholds are not hand-picked: a bootstrap pass over other held-out prompts runs the chain with
 * exits off (every ramp observed on every token), the segment times of that pass form the latency
 * model, and the same tuner the classifiers use picks thresholds at the constraint. Plain and exit
 * runs alternate within each repeat so that load drifts hit both; figures are medians over
 * repeats with their spread (min–max), because the machine is shared.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { InputError } from '../core/errors';
import { heldOutPrompts } from '../core/generate/corpus-prompts';
import { ExitDecoder, type TokenRecord } from '../core/generate/exit-decoder';
import { MOBY_GPT_DIR } from '../core/generate/fixture';
import { openDecoderModel, type DecoderModel } from '../core/generate/generative-model';
import { rougeL } from '../core/generate/text-metrics';
import {
  releasedAgrees,
  retuneTokenThresholds,
  stepCosts,
  TokenWindow,
} from '../core/generate/token-feedback';
import { median, quantile } from '../core/util/stats';
import type { Benchmark } from './run';

const PROMPT_CHARS = 40;
const BOOTSTRAP_PROMPTS = 48;
const BATCHES = [1, 8] as const;

function readOption(args: readonly string[], name: string, fallback: number): number {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!(Number.isFinite(value) && value > 0))
    throw new InputError(`--${name} must be a positive number, got ${arg}`);
  return value;
}

interface WorkloadRun {
  readonly gapsMs: number[];
  readonly tokens: number;
  readonly wallMs: number;
  readonly texts: Map<string, number[]>;
  readonly records: TokenRecord[];
  readonly segmentMs: number[][];
}

/** Generates `maxTokens` for every prompt with at most `batch` rows at once. */
async function runWorkload(
  decoder: ExitDecoder,
  prompts: readonly string[],
  batch: number,
  maxTokens: number,
): Promise<WorkloadRun> {
  const queue = [...prompts];
  const lastEmit = new Map<string, number>();
  const gapsMs: number[] = [];
  const texts = new Map<string, number[]>();
  const records: TokenRecord[] = [];
  const segmentMs: number[][] = [];
  let tokens = 0;
  const started = performance.now();
  while (queue.length > 0 || decoder.activeRows > 0) {
    while (queue.length > 0 && decoder.activeRows < batch) {
      const prompt = queue.shift() as string;
      decoder.add({ id: prompt, prompt: new TextEncoder().encode(prompt), maxTokens });
    }
    const result = await decoder.step();
    const now = performance.now();
    for (const token of result.emitted) {
      const previous = lastEmit.get(token.id);
      if (previous !== undefined) gapsMs.push(now - previous);
      lastEmit.set(token.id, now);
      texts.set(token.id, [...(texts.get(token.id) ?? []), token.token]);
      tokens++;
    }
    records.push(...result.records);
    if (result.segmentRows[0] === batch) segmentMs.push(result.segmentMs);
  }
  return { gapsMs, tokens, wallMs: performance.now() - started, texts, records, segmentMs };
}

/** Median per segment over steps where every segment ran. */
function medianSegmentMs(steps: readonly number[][], segments: number): number[] {
  return Array.from({ length: segments }, (_, s) =>
    median(steps.map((step) => step[s] as number).filter((ms) => ms > 0)),
  );
}

const decodeText = (tokens: readonly number[] | undefined): string =>
  Buffer.from(tokens ?? []).toString('utf8');
const round = (value: number, digits = 3): number => Number(value.toFixed(digits));

export const generateBenchmark: Benchmark = {
  name: 'generate',
  summary: 'text generation: time per token with exits vs the full model, batch 1 and 8',
  usage:
    'usage: npm run bench -- generate [--repeats 3] [--tokens 48] [--prompts 16] [--constraint 0.99] [--tune-constraint c] [--json]',
  async run(args: readonly string[]): Promise<unknown> {
    const asJson = args.includes('--json');
    const repeats = Math.round(readOption(args, 'repeats', 3));
    const maxTokens = Math.round(readOption(args, 'tokens', 48));
    const constraint = readOption(args, 'constraint', 0.99);
    // Thresholds fitted to a bootstrap window of a few thousand tokens sit exactly at the
    // constraint there and slightly below it on new prompts; tuning keeps half the allowed
    // disagreement in reserve, visibly, as the tuner's contract asks of callers wanting headroom.
    const tuneConstraint = readOption(args, 'tune-constraint', 1 - (1 - constraint) / 2);
    const promptCount = Math.round(readOption(args, 'prompts', 16));
    const log = (line: string): void => {
      if (!asJson) process.stdout.write(`${line}\n`);
    };
    const all = await heldOutPrompts(BOOTSTRAP_PROMPTS + promptCount, PROMPT_CHARS);
    const bootstrap = all.slice(0, BOOTSTRAP_PROMPTS);
    const prompts = all.slice(BOOTSTRAP_PROMPTS);
    const whole = await openDecoderModel(MOBY_GPT_DIR, 'whole');
    const chain = await openDecoderModel(MOBY_GPT_DIR, 'segments');
    try {
      const rampCount = chain.segments.length - 1;
      log(
        `moby-gpt: ${chain.spec.architecture.layers} layers, ramps after layers ${chain.segments
          .slice(0, -1)
          .map((s) => s.layers[1])
          .join(', ')}; ${cpus().length} CPUs, load ${loadavg()[0]?.toFixed(1)} (shared machine)`,
      );

      // Bootstrap: exits off, every ramp observed; the segment times of full batches are the cost model.
      const results = [];
      for (const batch of BATCHES) {
        // Warm-up: the first runs at each shape are slow and would distort the cost model.
        await runWorkload(new ExitDecoder(chain, { maxRows: batch }), bootstrap.slice(0, batch), batch, 8);
        await runWorkload(new ExitDecoder(whole, { maxRows: batch }), bootstrap.slice(0, batch), batch, 8);
        const observe = await runWorkload(
          new ExitDecoder(chain, { maxRows: batch }),
          bootstrap,
          batch,
          maxTokens,
        );
        const plainRun = await runWorkload(
          new ExitDecoder(whole, { maxRows: batch }),
          bootstrap.slice(0, batch * 2),
          batch,
          maxTokens,
        );
        const segmentMs = medianSegmentMs(observe.segmentMs, chain.segments.length);
        const plainMs = median(plainRun.segmentMs.map((step) => step[0] as number));
        const window = new TokenWindow(rampCount, observe.records.length);
        window.push(observe.records);
        const tuned = retuneTokenThresholds(
          window,
          new Array<number>(rampCount).fill(0),
          stepCosts(segmentMs, plainMs),
          tuneConstraint,
        );
        log(
          `batch ${batch}: segment ms ${segmentMs.map((ms) => ms.toFixed(2)).join(' + ')} vs whole ${plainMs.toFixed(2)}; thresholds ${tuned.thresholds.map((t) => t.toFixed(3)).join(', ')} (tuned at ${tuneConstraint}: bootstrap agreement ${tuned.agreement.toFixed(4)} on ${window.count} tokens)`,
        );
        results.push(await measure(whole, chain, tuned.thresholds, prompts, batch, maxTokens, repeats, log));
      }
      if (asJson)
        process.stdout.write(
          `${JSON.stringify(
            results.map((r) => r.record),
            null,
            2,
          )}\n`,
        );
      return {
        model: 'moby-gpt',
        conditions: {
          cpus: cpus().length,
          load: loadavg()[0],
          repeats,
          maxTokens,
          prompts: prompts.length,
          constraint,
          tuneConstraint,
        },
        results,
      };
    } finally {
      await whole.release();
      await chain.release();
    }
  },
};

async function measure(
  whole: DecoderModel,
  chain: DecoderModel,
  thresholds: readonly number[],
  prompts: readonly string[],
  batch: number,
  maxTokens: number,
  repeats: number,
  log: (line: string) => void,
) {
  const plainP50: number[] = [];
  const plainP95: number[] = [];
  const exitP50: number[] = [];
  const exitP95: number[] = [];
  const chainP50: number[] = [];
  const tpsRatio: number[] = [];
  let plainTexts = new Map<string, number[]>();
  let exitTexts = new Map<string, number[]>();
  const records: TokenRecord[] = [];
  const exitShares = new Array<number>(thresholds.length).fill(0);
  for (let r = 0; r < repeats; r++) {
    const plain = await runWorkload(new ExitDecoder(whole, { maxRows: batch }), prompts, batch, maxTokens);
    // The chain with exits off: separates what the exits save from what cutting the graph costs.
    const chained = await runWorkload(new ExitDecoder(chain, { maxRows: batch }), prompts, batch, maxTokens);
    chainP50.push(quantile(chained.gapsMs, 0.5));
    const exits = await runWorkload(
      new ExitDecoder(chain, { maxRows: batch, thresholds }),
      prompts,
      batch,
      maxTokens,
    );
    plainP50.push(quantile(plain.gapsMs, 0.5));
    plainP95.push(quantile(plain.gapsMs, 0.95));
    exitP50.push(quantile(exits.gapsMs, 0.5));
    exitP95.push(quantile(exits.gapsMs, 0.95));
    tpsRatio.push(exits.tokens / exits.wallMs / (plain.tokens / plain.wallMs));
    plainTexts = plain.texts;
    exitTexts = exits.texts;
    records.push(...exits.records);
    for (const record of exits.records) if (record.exitRamp !== null) exitShares[record.exitRamp]! += 1;
  }
  const agreement = records.filter(releasedAgrees).length / Math.max(1, records.length);
  let exact = 0;
  let rouge = 0;
  for (const prompt of prompts) {
    const a = decodeText(exitTexts.get(prompt));
    const b = decodeText(plainTexts.get(prompt));
    if (a === b) exact++;
    rouge += rougeL(a, b);
  }
  const spread = (values: number[]): string =>
    `${median(values).toFixed(2)} [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`;
  const record = {
    model: 'moby-gpt',
    batch,
    tptMsP50Full: round(median(plainP50)),
    tptMsP50Exits: round(median(exitP50)),
    tokensPerSecondRatio: round(median(tpsRatio)),
    tokenAgreement: round(agreement, 4),
    exactMatch: round(exact / prompts.length),
    rougeL: round(rouge / prompts.length),
  };
  log(
    [
      `batch ${batch}, ${prompts.length} prompts x ${maxTokens} tokens, ${repeats} repeats (median [min–max] over repeats)`,
      `  time per token p50 ms: full ${spread(plainP50)}  exits ${spread(exitP50)}  ratio ${(median(plainP50) / median(exitP50)).toFixed(2)}x`,
      `  time per token p50 ms, chain with exits off: ${spread(chainP50)}`,
      `  time per token p95 ms: full ${spread(plainP95)}  exits ${spread(exitP95)}`,
      `  tokens/s exits / full: ${spread(tpsRatio)}`,
      `  per-token agreement ${agreement.toFixed(4)} over ${records.length} tokens; exits per ramp ${exitShares.map((n) => (n / Math.max(1, records.length)).toFixed(3)).join(', ')}`,
      `  exact match ${record.exactMatch}, ROUGE-L ${record.rougeL}`,
    ].join('\n'),
  );
  return {
    record,
    thresholds,
    spread: {
      tptMsP50Full: [Math.min(...plainP50), Math.max(...plainP50)],
      tptMsP50Exits: [Math.min(...exitP50), Math.max(...exitP50)],
      tokensPerSecondRatio: [Math.min(...tpsRatio), Math.max(...tpsRatio)],
    },
    tptMsP50ChainNoExits: round(median(chainP50)),
    tptMsP95Full: round(median(plainP95)),
    tptMsP95Exits: round(median(exitP95)),
    exitShares: exitShares.map((n) => round(n / Math.max(1, records.length), 4)),
  };
}
