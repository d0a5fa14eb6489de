/**
 * The slicing benchmark's command line. With no `--model` it measures the fixture models on their
 * real serving inputs; with `--model <file.onnx>` any ONNX classifier with a symbolic batch axis,
 * fed seeded random inputs (timings do not depend on the values), after `--input-shape` has fixed
 * any other symbolic axis.
 */
import { z } from 'zod';
import { InputError } from '../../core/errors';

/** Which cuts to make: named layouts or explicit candidate ids. */
export type CutSpec = 'middle' | 'spread3' | 'all' | { readonly ids: readonly string[] };

export interface SlicingOptions {
  readonly model?: string;
  /** Per-sample dimensions (after the batch) for named inputs. */
  readonly inputShapes: ReadonlyMap<string, readonly number[]>;
  readonly cuts: readonly CutSpec[];
  /** Operator threads per session; 0 lets onnxruntime use every core. */
  readonly threads: readonly number[];
  readonly batchSize: number;
  readonly rounds: number;
  readonly runsPerRound: number;
  /** Runs recorded with onnxruntime's profiler for the breakdown (after warm-up). */
  readonly profiledRuns: number;
  readonly breakdown: boolean;
  /**
   * With a count, measure throughput with that many lanes (threads of single-threaded sessions,
   * see lane-rounds.ts) instead of timing single runs; `--threads` and the breakdown then do not apply.
   */
  readonly lanes?: number;
  /** How long each variant runs per round in the lanes measurement. */
  readonly phaseMs: number;
}

/** The slicing benchmark's flags, as its errors and `--help` print them. */
export const SLICING_USAGE =
  'usage: npm run bench -- slicing [--model file.onnx] [--input-shape name=AxBxC]... [--cuts middle|spread3|all|c1,c4]... ' +
  '[--threads 1,0] [--batch 8] [--rounds 40] [--runs-per-round 5] [--profiled-runs 30] [--no-breakdown] [--lanes 2 [--phase-ms 2000]]';

const positiveInt = z.coerce.number().int().positive();

function parseShape(text: string): [string, number[]] {
  const at = text.lastIndexOf('=');
  const dims = text.slice(at + 1).split('x');
  if (at <= 0 || dims.some((d) => !/^[1-9][0-9]*$/.test(d))) {
    throw new InputError(
      `--input-shape ${text}: give name=AxBxC with positive sizes after the batch, e.g. input=3x224x224`,
    );
  }
  return [text.slice(0, at), dims.map(Number)];
}

function parseCut(text: string): CutSpec {
  if (text === 'middle' || text === 'spread3' || text === 'all') return text;
  const ids = text.split(',').filter((id) => id.length > 0);
  if (ids.length === 0 || ids.some((id) => !/^c[0-9]+$/.test(id))) {
    throw new InputError(`--cuts ${text}: give middle, spread3, all, or candidate ids like c2,c5`);
  }
  return { ids };
}

/** Parses the arguments after `slicing`; throws an InputError that says what is allowed. */
export function parseSlicingOptions(args: readonly string[]): SlicingOptions {
  const inputShapes = new Map<string, number[]>();
  const cuts: CutSpec[] = [];
  let model: string | undefined;
  let threads: number[] = [1, 0];
  let batchSize = 8;
  let rounds = 40;
  let runsPerRound = 5;
  let profiledRuns = 30;
  let breakdown = true;
  let lanes: number | undefined;
  let phaseMs = 2000;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i] as string;
    if (flag === '--no-breakdown') {
      breakdown = false;
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--'))
      throw new InputError(`${flag} needs a value; ${SLICING_USAGE}`);
    i++;
    const count = (what: string) => {
      const parsed = positiveInt.safeParse(value);
      if (!parsed.success) throw new InputError(`${what} must be a positive integer, got ${value}`);
      return parsed.data;
    };
    switch (flag) {
      case '--model':
        model = value;
        break;
      case '--input-shape': {
        const [name, dims] = parseShape(value);
        inputShapes.set(name, dims);
        break;
      }
      case '--cuts':
        cuts.push(parseCut(value));
        break;
      case '--threads':
        threads = value.split(',').map((t) => {
          const parsed = z.coerce.number().int().nonnegative().safeParse(t);
          if (!parsed.success)
            throw new InputError(`--threads takes counts like 1,0 (0 = all cores), got ${value}`);
          return parsed.data;
        });
        break;
      case '--batch':
        batchSize = count('--batch');
        break;
      case '--rounds':
        rounds = count('--rounds');
        break;
      case '--runs-per-round':
        runsPerRound = count('--runs-per-round');
        break;
      case '--profiled-runs':
        profiledRuns = count('--profiled-runs');
        break;
      case '--lanes':
        lanes = count('--lanes');
        break;
      case '--phase-ms':
        phaseMs = count('--phase-ms');
        break;
      default:
        throw new InputError(`unknown option ${flag}; ${SLICING_USAGE}`);
    }
  }
  return {
    ...(model !== undefined ? { model } : {}),
    inputShapes,
    cuts: cuts.length > 0 ? cuts : ['middle', 'spread3'],
    threads,
    batchSize,
    rounds,
    runsPerRound,
    profiledRuns,
    breakdown,
    ...(lanes !== undefined ? { lanes } : {}),
    phaseMs,
  };
}
