/**
 * Reads of the results table by requests that wait for pushed answers, coalesced: each `get`
 * joins the reads asked for within `lingerMs` and they go as one BatchGetItem (100 keys a call).
 * Over Redis pub/sub a waiting request still reads its record once a second in case a push was
 * lost; behind a backlog of thousands of waiters that is thousands of reads a second, each a
 * whole SDK call (and, locally, a dynalite request) on the front door's one thread. Coalesced,
 * the same reads cost a call per batch. A failed call rejects every read in it; the waits retry
 * at their next interval, as they would a failed `get`.
 */
import { checkLingerMs } from './linger';
import type { ResultRecord, ResultStore } from './result-store';

interface Pending {
  readonly requestId: string;
  readonly resolve: (record: ResultRecord | undefined) => void;
  readonly reject: (error: unknown) => void;
}

export interface BatchedReadsOptions {
  /** How long the first read of a batch waits for others, ms. @default 5 */
  readonly lingerMs?: number;
}

export class BatchedReads {
  /** Calls made and reads in them since start (how well reads coalesce). */
  readonly counts = { batches: 0, reads: 0 };
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly lingerMs: number;

  constructor(
    private readonly store: Pick<ResultStore, 'getMany'>,
    options: BatchedReadsOptions = {},
  ) {
    this.lingerMs = checkLingerMs(options.lingerMs ?? 5);
  }

  /** The request's record as `ResultStore.get` returns it, read together with others. */
  get(requestId: string): Promise<ResultRecord | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ requestId, resolve, reject });
      this.timer ??= setTimeout(() => this.readNow(), this.lingerMs);
    });
  }

  private readNow(): void {
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.counts.batches += 1;
    this.counts.reads += batch.length;
    this.store.getMany(batch.map((read) => read.requestId)).then(
      (records) => {
        for (const read of batch) read.resolve(records.get(read.requestId));
      },
      (error: unknown) => {
        for (const read of batch) read.reject(error);
      },
    );
  }
}
