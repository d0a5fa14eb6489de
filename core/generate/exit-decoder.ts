/**
 * Batched text generation with per-token early exits and exact key-value caches.
 *
 * Each step feeds every row's latest token to the first segment. A row whose ramp is confident
 * emits the ramp's token at once and keeps that token's hidden state instead of running the deeper
 * segments; a row that does not exit carries on, and each deeper segment it reaches runs, in the
 * same batch, its held states first and then its current token (FREE's synchronized parallel
 * decoding, here batched and with several ramps). Every layer of every row therefore processes
 * every position in order and exactly once, so the caches equal the full model's; and each held
 * state that reaches the model's head yields the full model's token at that position: the
 * per-token agreement the tuner keeps at the constraint.
 *
 * Invariant per row: the positions a segment has processed are a prefix; `pending[s]` holds the
 * positions processed by segment s−1 but not by segment s, in order. A row's held tokens are
 * capped (`maxHeldTokens`) so that fills stay small and feedback arrives soon; a row at the cap
 * runs to the end. Rows join between steps (their prompt is prefilled through the whole chain,
 * without exits) and leave when done; a row whose last token exited first drains its held states
 * so that their feedback is not lost.
 */
import { InputError } from '../errors';
import { SeededRandom } from '../util/random';
import type { DecoderModel } from './generative-model';
import { RowCache } from './row-cache';
import {
  runSegmentBatch,
  type SegmentGeometry,
  type SegmentRowInput,
  type SegmentRowOutput,
} from './segment-batch';
import { sampleToken, topToken } from './token-choice';

/** One sequence to generate. Token ids are bytes of UTF-8 text. */
export interface GenerationRequest {
  readonly id: string;
  readonly prompt: Uint8Array;
  readonly maxTokens: number;
  /** 0 (default) is greedy; above 0 samples from the exit point's softmax at this temperature. */
  readonly temperature?: number;
  /** Seed of the row's sampler (default 0). */
  readonly seed?: number;
}

/** A token released to a row's client. */
export interface EmittedToken {
  readonly id: string;
  readonly token: number;
  /** 0-based index among the row's generated tokens. */
  readonly index: number;
  /** The ramp it exited at, or null when the full model produced it. */
  readonly exitRamp: number | null;
  /** The producing head's top-token probability. */
  readonly confidence: number;
  /** Whether this is the row's last token. */
  readonly last: boolean;
}

/**
 * Everything learned about one generated position once the full model has seen it: every ramp's
 * confidence and top token, the full model's top token, and where the released token came from.
 */
export interface TokenRecord {
  readonly confidence: readonly number[];
  readonly prediction: readonly number[];
  readonly full: number;
  readonly exitRamp: number | null;
  /** The row (request) the position belongs to, and the position in its text: the exit log's key. */
  readonly rowId?: string;
  readonly position?: number;
  /** From the start of the step that decoded the position to its token's release, ms. */
  readonly releasedMs?: number;
  /** From the same start to the full model's verdict on it (its deferred fill, if it exited), ms. */
  readonly finalMs?: number;
}

/** What one step did. */
export interface StepResult {
  readonly emitted: EmittedToken[];
  /** Records completed in this step (by fills or by tokens that ran to the end). */
  readonly records: TokenRecord[];
  /** Rows that are finished and released. */
  readonly finished: string[];
  /** Rows that ran each segment (prefill excluded): the batch each segment saw. */
  readonly segmentRows: number[];
  /** Wall time of each segment's run in this step's decoding (0 where it did not run), ms. */
  readonly segmentMs: number[];
}

export interface ExitDecoderOptions {
  /** Per-ramp thresholds; a token exits at the first ramp with 1 − confidence < threshold. Default all 0. */
  readonly thresholds?: readonly number[];
  /** Most tokens a row may hold before it must run to the end (default 8; 0 disables exits). */
  readonly maxHeldTokens?: number;
  /** Most rows at once, prefilling, decoding or draining (default 16). */
  readonly maxRows?: number;
}

/** A position on its way through the segments. */
interface Flow {
  readonly position: number;
  /** performance.now() when the step that decodes the position started. */
  readonly startedAtMs: number;
  releasedAtMs: number | null;
  hidden: Float32Array | null;
  readonly confidence: number[];
  readonly prediction: number[];
  exitRamp: number | null;
}

interface Row {
  readonly request: GenerationRequest;
  readonly cache: RowCache;
  readonly tokens: number[];
  readonly random: SeededRandom;
  generated: number;
  phase: 'new' | 'decoding' | 'draining';
  /** pending[s]: flows processed by segment s−1 and not yet by s (index 0 unused). */
  readonly pending: Flow[][];
}

export class ExitDecoder {
  private readonly rows = new Map<string, Row>();
  private readonly geometry: SegmentGeometry;
  private thresholds: number[];
  readonly maxHeldTokens: number;
  readonly maxRows: number;

  constructor(
    private readonly model: DecoderModel,
    options: ExitDecoderOptions = {},
  ) {
    const { architecture } = model.spec;
    this.geometry = {
      width: architecture.width,
      vocabulary: architecture.vocabulary,
      masked: architecture.attnBiasMasked,
    };
    this.thresholds = new Array<number>(this.rampCount).fill(0);
    if (options.thresholds) this.setThresholds(options.thresholds);
    this.maxHeldTokens = options.maxHeldTokens ?? 8;
    this.maxRows = options.maxRows ?? 16;
    if (!(Number.isInteger(this.maxHeldTokens) && this.maxHeldTokens >= 0))
      throw new InputError(`maxHeldTokens must be a non-negative integer, got ${this.maxHeldTokens}`);
    if (!(Number.isInteger(this.maxRows) && this.maxRows >= 1))
      throw new InputError(`maxRows must be a positive integer, got ${this.maxRows}`);
  }

  /** Ramps of the chain: one at the end of every segment but the last. */
  get rampCount(): number {
    return this.model.segments.length - 1;
  }

  /** The model's context: prompt plus generated tokens must fit in it. */
  get context(): number {
    return this.model.spec.architecture.context;
  }

  get currentThresholds(): readonly number[] {
    return this.thresholds;
  }

  /** Swaps the thresholds; takes effect at the next step, for every row. */
  setThresholds(thresholds: readonly number[]): void {
    if (thresholds.length !== this.rampCount)
      throw new InputError(`expected ${this.rampCount} thresholds (one per ramp), got ${thresholds.length}`);
    thresholds.forEach((t, i) => {
      if (!(Number.isFinite(t) && t >= 0 && t <= 1))
        throw new InputError(`threshold ${i} is ${t}; thresholds lie in [0, 1] (0 never exits)`);
    });
    this.thresholds = [...thresholds];
  }

  /** Rows held now (prefilling, decoding or draining). */
  get activeRows(): number {
    return this.rows.size;
  }

  /** Whether another row fits under `maxRows`. */
  canAdmit(): boolean {
    return this.rows.size < this.maxRows;
  }

  /** Admits a row; it is prefilled at the next step. Throws InputError on a bad request. */
  add(request: GenerationRequest): void {
    const { prompt, maxTokens } = request;
    const temperature = request.temperature ?? 0;
    if (this.rows.has(request.id)) throw new InputError(`row ${request.id} is already being generated`);
    if (prompt.length < 1) throw new InputError('prompt is empty; give at least one byte of text');
    if (!(Number.isInteger(maxTokens) && maxTokens >= 1))
      throw new InputError(`maxTokens must be a positive integer, got ${maxTokens}`);
    if (prompt.length + maxTokens > this.context)
      throw new InputError(
        `prompt (${prompt.length} bytes) plus maxTokens (${maxTokens}) exceeds the model's context of ${this.context} tokens`,
      );
    if (!(Number.isFinite(temperature) && temperature >= 0))
      throw new InputError(`temperature must be a finite number >= 0, got ${temperature}`);
    if (!this.canAdmit()) throw new InputError(`the decoder holds its maximum of ${this.maxRows} rows`);
    const { layers, width } = this.model.spec.architecture;
    this.rows.set(request.id, {
      request,
      cache: new RowCache(layers, width, this.context),
      tokens: Array.from(prompt),
      random: new SeededRandom(request.seed ?? 0),
      generated: 0,
      phase: 'new',
      pending: this.model.segments.map(() => []),
    });
  }

  /** Ids of the rows held now. */
  rowIds(): string[] {
    return [...this.rows.keys()];
  }

  /** Drops a row at once (a client that went away); returns whether it was there. */
  cancel(id: string): boolean {
    return this.rows.delete(id);
  }

  /** A row's cache, for inspection (tests compare it with the full model's). */
  cacheOf(id: string): RowCache | undefined {
    return this.rows.get(id)?.cache;
  }

  /** Tokens held by a row's segments beyond the first (waiting for a fill). */
  heldTokens(id: string): number {
    const row = this.rows.get(id);
    return row ? heldCount(row) : 0;
  }

  /** Prefills the rows that joined, then runs one decoding step for the others. */
  async step(): Promise<StepResult> {
    const emitted: EmittedToken[] = [];
    const records: TokenRecord[] = [];
    const finished: string[] = [];
    const joining = [...this.rows.values()].filter((row) => row.phase === 'new');
    const running = [...this.rows.values()].filter((row) => row.phase !== 'new');
    if (joining.length > 0) await this.prefill(joining, emitted, records);
    const { segmentRows, segmentMs } = await this.decode(running, emitted, records);
    for (const row of [...joining, ...running]) {
      const done = row.generated >= row.request.maxTokens || row.tokens.length >= this.context;
      if (!done) continue;
      if (heldCount(row) > 0) {
        row.phase = 'draining';
      } else {
        this.rows.delete(row.request.id);
        finished.push(row.request.id);
      }
    }
    return { emitted, records, finished, segmentRows, segmentMs };
  }

  /** Runs whole prompts through every segment (no exits) and emits each row's first token. */
  private async prefill(rows: Row[], emitted: EmittedToken[], records: TokenRecord[]): Promise<void> {
    let hidden: (Float32Array | null)[] = rows.map(() => null);
    const startedAtMs = performance.now();
    const flows: Flow[] = rows.map((row) => newFlow(row.tokens.length - 1, startedAtMs));
    for (const [s, segment] of this.model.segments.entries()) {
      const inputs: SegmentRowInput[] = rows.map((row, r) => {
        const count = row.tokens.length;
        return segment.takesTokens
          ? { cache: row.cache, count, tokens: { ids: row.tokens, positions: row.tokens.map((_, i) => i) } }
          : { cache: row.cache, count, hidden: hidden[r] as Float32Array };
      });
      const outputs = await runSegmentBatch(segment, inputs, this.geometry);
      hidden = outputs.map((out) => out.hidden);
      outputs.forEach((out, r) => {
        const flow = flows[r] as Flow;
        const row = rows[r] as Row;
        observe(flow, out, row.tokens.length - 1, this.geometry.vocabulary);
        if (s === this.rampCount) this.release(row, flow, out, row.tokens.length - 1, null, emitted, records);
      });
    }
    for (const row of rows) row.phase = 'decoding';
  }

  /** One decoding step for the rows already generating, and the fills of the draining ones. */
  private async decode(
    rows: Row[],
    emitted: EmittedToken[],
    records: TokenRecord[],
  ): Promise<{ segmentRows: number[]; segmentMs: number[] }> {
    const segmentRows = this.model.segments.map(() => 0);
    const segmentMs = this.model.segments.map(() => 0);
    // current[r]: the row's newest token on its way down; null once it exited (or when draining).
    const current = new Map<Row, Flow | null>();
    const startedAtMs = performance.now();
    for (const row of rows)
      current.set(row, row.phase === 'decoding' ? newFlow(row.tokens.length - 1, startedAtMs) : null);
    for (const [s, segment] of this.model.segments.entries()) {
      // Rows whose token exited keep their held states for a later fill; draining rows flush them.
      const here = rows.filter(
        (row) => current.get(row) || (row.phase === 'draining' && (row.pending[s] as Flow[]).length > 0),
      );
      if (here.length === 0) continue;
      segmentRows[s] = here.length;
      const batches = here.map((row) => {
        const flows = s > 0 ? [...(row.pending[s] as Flow[])] : [];
        const mine = current.get(row);
        if (mine) flows.push(mine);
        return flows;
      });
      const inputs: SegmentRowInput[] = here.map((row, r) => {
        const flows = batches[r] as Flow[];
        if (segment.takesTokens) {
          const positions = flows.map((flow) => flow.position);
          return {
            cache: row.cache,
            count: flows.length,
            tokens: { ids: positions.map((p) => row.tokens[p] as number), positions },
          };
        }
        const width = this.geometry.width;
        const hidden = new Float32Array(flows.length * width);
        flows.forEach((flow, i) => hidden.set(flow.hidden as Float32Array, i * width));
        return { cache: row.cache, count: flows.length, hidden };
      });
      const started = performance.now();
      const outputs = await runSegmentBatch(segment, inputs, this.geometry);
      segmentMs[s] = performance.now() - started;
      here.forEach((row, r) => {
        const flows = batches[r] as Flow[];
        const out = outputs[r] as SegmentRowOutput;
        const mine = current.get(row) ?? null;
        if (s > 0) (row.pending[s] as Flow[]).length = 0;
        flows.forEach((flow, i) => {
          observe(flow, out, i, this.geometry.vocabulary);
          if (out.hidden)
            flow.hidden = out.hidden.slice(i * this.geometry.width, (i + 1) * this.geometry.width);
          if (flow !== mine) {
            // A held position moving down: to the next segment's queue, or complete at the head.
            if (s < this.rampCount) (row.pending[s + 1] as Flow[]).push(flow);
            else records.push(toRecord(flow, row.request.id));
            return;
          }
          if (s === this.rampCount) {
            this.release(row, flow, out, i, null, emitted, records);
          } else if (this.mayExit(row, s, flow)) {
            flow.exitRamp = s;
            (row.pending[s + 1] as Flow[]).push(flow);
            current.set(row, null);
            this.release(row, flow, out, i, s, emitted, records);
          }
        });
      });
    }
    return { segmentRows, segmentMs };
  }

  /** The exit rule at ramp `ramp`, within the row's cap on held tokens. */
  private mayExit(row: Row, ramp: number, flow: Flow): boolean {
    const threshold = this.thresholds[ramp] as number;
    if (!(threshold > 0) || heldCount(row) >= this.maxHeldTokens) return false;
    return 1 - (flow.confidence[ramp] as number) < threshold;
  }

  /** Releases the token that the head at `exitRamp` (null: the model's own) predicts for `flow`. */
  private release(
    row: Row,
    flow: Flow,
    out: SegmentRowOutput,
    index: number,
    exitRamp: number | null,
    emitted: EmittedToken[],
    records: TokenRecord[],
  ): void {
    const vocabulary = this.geometry.vocabulary;
    const head = exitRamp ?? this.rampCount;
    const token = sampleToken(
      out.logits,
      index * vocabulary,
      vocabulary,
      row.request.temperature ?? 0,
      row.random,
    );
    row.tokens.push(token);
    row.generated++;
    emitted.push({
      id: row.request.id,
      token,
      index: row.generated - 1,
      exitRamp,
      confidence: flow.confidence[head] as number,
      last: row.generated >= row.request.maxTokens || row.tokens.length >= this.context,
    });
    flow.releasedAtMs = performance.now();
    if (exitRamp === null) records.push(toRecord(flow, row.request.id));
  }
}

function newFlow(position: number, startedAtMs: number): Flow {
  return {
    position,
    startedAtMs,
    releasedAtMs: null,
    hidden: null,
    confidence: [],
    prediction: [],
    exitRamp: null,
  };
}

/** Records the head's top token and confidence for the flow at output position `index`. */
function observe(flow: Flow, out: SegmentRowOutput, index: number, vocabulary: number): void {
  const top = topToken(out.logits, index * vocabulary, vocabulary);
  flow.confidence.push(top.confidence);
  flow.prediction.push(top.token);
}

function toRecord(flow: Flow, rowId: string): TokenRecord {
  const full = flow.prediction[flow.prediction.length - 1] as number;
  const now = performance.now();
  return {
    confidence: flow.confidence.slice(0, -1),
    prediction: flow.prediction.slice(0, -1),
    full,
    exitRamp: flow.exitRamp,
    rowId,
    position: flow.position,
    releasedMs: Math.max(0, (flow.releasedAtMs ?? now) - flow.startedAtMs),
    finalMs: Math.max(0, now - flow.startedAtMs),
  };
}

function heldCount(row: Row): number {
  let held = 0;
  for (const queue of row.pending) held += queue.length;
  return held;
}
