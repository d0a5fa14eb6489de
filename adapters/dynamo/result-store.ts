/**
 * Where the worker records each request's answers and where the result Lambda reads them: one item
 * per request id holding the early answer, the final answer beside it, or an error. The ingest side
 * marks a request accepted before queueing it, so a reader can tell a request still waiting for its
 * answer (`pending`) from one that was never accepted or has expired (no record).
 *
 * Delivery is at least once, so every write is idempotent by request id and safe in any order:
 * - each answer lives in its own map attribute, written with `if_not_exists`, so the first write of
 *   an early or final answer wins and a repeat is a no-op; an early answer arriving after the final
 *   one is recorded beside it and never touches the final answer's fields;
 * - an error is recorded only while there is no final answer (a redelivery that fails cannot hide
 *   an answer already given), and a final answer clears an earlier error (a retry that succeeded).
 * Every write moves the item's expiry to `ttlMs` after that write. Reads are strongly consistent
 * (a synchronous caller polls for the answer just written) and treat expired items as absent,
 * since DynamoDB deletes expired items only eventually.
 */
import { BatchGetCommand, BatchWriteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { ArtifactError, describeIssues, InputError, parseInput } from '../../core/errors';
import { withoutUndefined } from '../../core/util/without-undefined';
import { CONDITIONAL_CHECK_FAILED, isServiceError, type DocumentSender } from './dynamo-client';
import {
  answerErrorSchema,
  classLabelSchema,
  earlyAnswerSchema,
  finalAnswerSchema,
  MAX_ERROR_MESSAGE_LENGTH,
  modelIdSchema,
  requestIdSchema,
  type AnswerError,
} from '../../core/serving/answers';
import { answeredStatus, checkResultTtlMs } from '../../core/serving/stored-results';
import { RESULTS_TABLE, TTL_ATTRIBUTE } from './tables';

/**
 * A label as stored: the class name the worker writes, or a class index in items written before
 * labels were always names.
 */
const storedLabelSchema = z.union([z.number().int().nonnegative(), classLabelSchema]);

/**
 * What the table keeps of an early answer: the worker's answer (core/serving/answers.ts) without
 * its class index and release time; the model is kept on the item, beside the answers.
 */
const earlyInputSchema = earlyAnswerSchema
  .pick({ model: true, confidence: true, exit: true, latencyMs: true, configVersion: true })
  .extend({ label: storedLabelSchema });
export type StoredEarlyAnswer = z.infer<typeof earlyInputSchema>;
const storedEarlySchema = earlyInputSchema.omit({ model: true });
/** What the table keeps of a final answer; `configVersion` is absent in items written before it was recorded. */
const storedFinalSchema = finalAnswerSchema
  .pick({ confidence: true, latencyMs: true, agreesWithEarly: true })
  .extend({ label: storedLabelSchema, configVersion: finalAnswerSchema.shape.configVersion.optional() });
export type StoredFinalAnswer = z.infer<typeof storedFinalSchema>;

/** What the ingest side records when it accepts a request, before the request is queued. */
export const acceptedRequestSchema = z.object({
  model: modelIdSchema,
  /** The request's absolute deadline, epoch ms. */
  deadlineAtMs: z.number().nonnegative().finite(),
});
export type AcceptedRequest = z.infer<typeof acceptedRequestSchema>;

const recordedAtMsSchema = z.number().nonnegative();

/** The stored item, checked on every read: a corrupt item is reported, never returned. */
const storedResultSchema = z
  .object({
    requestId: requestIdSchema,
    model: modelIdSchema.optional(),
    accepted: acceptedRequestSchema
      .omit({ model: true })
      .extend({ recordedAtMs: recordedAtMsSchema })
      .optional(),
    early: storedEarlySchema.extend({ recordedAtMs: recordedAtMsSchema }).optional(),
    final: storedFinalSchema.extend({ recordedAtMs: recordedAtMsSchema }).optional(),
    error: answerErrorSchema.extend({ recordedAtMs: recordedAtMsSchema }).optional(),
    [TTL_ATTRIBUTE]: z.number().int().positive(),
  })
  .refine(
    (item) =>
      item.accepted !== undefined ||
      item.early !== undefined ||
      item.final !== undefined ||
      item.error !== undefined,
    { message: 'holds neither an answer, an error nor an acceptance' },
  );
type StoredResult = z.infer<typeof storedResultSchema>;

/**
 * What a reader sees. `status` is the most final thing known: a final answer wins over an error
 * (the retry succeeded), an error over a lone early answer (the early answer stays readable), and
 * any of them over `pending` (accepted, nothing answered yet).
 */
export interface ResultRecord {
  readonly requestId: string;
  readonly status: 'pending' | 'early' | 'final' | 'error';
  readonly model?: string;
  readonly accepted?: NonNullable<StoredResult['accepted']>;
  readonly early?: NonNullable<StoredResult['early']>;
  readonly final?: NonNullable<StoredResult['final']>;
  readonly error?: NonNullable<StoredResult['error']>;
  /** When DynamoDB may delete the item, epoch seconds. */
  readonly expiresAt: number;
}

/** One request's settled answers, for `putSettledMany`. */
export interface SettledAnswers {
  readonly requestId: string;
  readonly model: string;
  readonly final: StoredFinalAnswer;
  readonly early?: StoredEarlyAnswer;
}

/** BatchGetItem reads at most 100 keys per call, BatchWriteItem puts at most 25. */
const BATCH_GET_LIMIT = 100;
const BATCH_WRITE_LIMIT = 25;
/** Retries of the keys or puts a batch call leaves unprocessed, 20, 40, 80 ms apart. */
const BATCH_RETRIES = 3;

export interface ResultStoreOptions {
  readonly client: DocumentSender;
  readonly tableName: string;
  /** How long an item lives after its last write. @default DEFAULT_RESULT_TTL_MS of core/serving/stored-results.ts (1 day) */
  readonly ttlMs?: number;
  /** The clock for recorded times and expiry. @default Date.now */
  readonly nowMs?: () => number;
}

export class ResultStore {
  private readonly client: DocumentSender;
  private readonly tableName: string;
  private readonly ttlMs: number;
  private readonly nowMs: () => number;

  constructor(options: ResultStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.ttlMs = checkResultTtlMs(options.ttlMs);
    this.nowMs = options.nowMs ?? Date.now;
  }

  /**
   * Marks a request accepted (by the ingest side, before it is queued) so that readers report it
   * `pending` until an answer arrives. Returns false when it was already marked (a client retry
   * with the same idempotency key), in which case nothing but the expiry changed.
   */
  async putAccepted(requestId: string, accepted: AcceptedRequest): Promise<boolean> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const { model, ...rest } = parseInput(acceptedRequestSchema, accepted, 'accepted request');
    return this.putOnceWithModel(id, 'accepted', rest, model);
  }

  /**
   * Records the answer released at a ramp. Returns false when an early answer was already there
   * (a redelivery), in which case nothing but the expiry changed.
   */
  async putEarly(requestId: string, answer: StoredEarlyAnswer): Promise<boolean> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const { model, ...early } = parseInput(earlyInputSchema, answer, 'early answer');
    return this.putOnceWithModel(id, 'early', early, model);
  }

  /**
   * Writes `attribute` (stamped with the time) and the item's model only where absent, and moves
   * the expiry; true when this call wrote the attribute, false when it was already there.
   */
  private async putOnceWithModel(
    id: string,
    attribute: 'accepted' | 'early',
    value: Record<string, unknown>,
    model: string,
  ): Promise<boolean> {
    const nowMs = this.nowMs();
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [RESULTS_TABLE.partitionKey.name]: id },
        UpdateExpression:
          'SET #value = if_not_exists(#value, :value), #model = if_not_exists(#model, :model), #expiresAt = :expiresAt',
        ExpressionAttributeNames: { '#value': attribute, '#model': 'model', '#expiresAt': TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ':value': { ...value, recordedAtMs: nowMs },
          ':model': model,
          ':expiresAt': this.expiresAt(nowMs),
        },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    return Attributes?.[attribute] === undefined;
  }

  /**
   * Records the full model's answer beside any early one and clears an error left by an earlier
   * failed delivery. Returns false when a final answer was already there.
   */
  async putFinal(requestId: string, answer: StoredFinalAnswer): Promise<boolean> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const final = withoutUndefined(parseInput(storedFinalSchema, answer, 'final answer'));
    const nowMs = this.nowMs();
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [RESULTS_TABLE.partitionKey.name]: id },
        UpdateExpression: 'SET #final = if_not_exists(#final, :final), #expiresAt = :expiresAt REMOVE #error',
        ExpressionAttributeNames: { '#final': 'final', '#error': 'error', '#expiresAt': TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ':final': { ...final, recordedAtMs: nowMs },
          ':expiresAt': this.expiresAt(nowMs),
        },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    return Attributes?.['final'] === undefined;
  }

  /**
   * Records a request's final answer and, where the request exited, its early answer, in one write,
   * with the same first-write-wins rules as `putEarly` and `putFinal` (and the item's model, so a
   * request whose acceptance was never written still names its model). A worker whose waiting
   * clients are woken by pushed answers uses it: the early answer's durable copy may then trail its
   * release by the rest of the batch, and each request costs one write instead of two.
   */
  async putSettled(
    requestId: string,
    model: string,
    final: StoredFinalAnswer,
    early?: StoredEarlyAnswer,
  ): Promise<void> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const checkedModel = parseInput(modelIdSchema, model, 'model');
    const checkedFinal = withoutUndefined(parseInput(storedFinalSchema, final, 'final answer'));
    const nowMs = this.nowMs();
    const names: Record<string, string> = {
      '#final': 'final',
      '#model': 'model',
      '#error': 'error',
      '#expiresAt': TTL_ATTRIBUTE,
    };
    const values: Record<string, unknown> = {
      ':final': { ...checkedFinal, recordedAtMs: nowMs },
      ':model': checkedModel,
      ':expiresAt': this.expiresAt(nowMs),
    };
    let setEarly = '';
    if (early !== undefined) {
      const { model: earlyModel, ...checkedEarly } = parseInput(earlyInputSchema, early, 'early answer');
      if (earlyModel !== checkedModel) {
        throw new InputError(
          `early answer of request ${id} names model ${earlyModel}, its final answer ${checkedModel}`,
        );
      }
      names['#early'] = 'early';
      values[':early'] = { ...checkedEarly, recordedAtMs: nowMs };
      setEarly = ', #early = if_not_exists(#early, :early)';
    }
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [RESULTS_TABLE.partitionKey.name]: id },
        UpdateExpression: `SET #final = if_not_exists(#final, :final), #model = if_not_exists(#model, :model)${setEarly}, #expiresAt = :expiresAt REMOVE #error`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /**
   * Records many requests' settled answers (as `putSettled` each) in few calls: one strongly
   * consistent BatchGetItem for up to 100 requests, then BatchWriteItem puts of 25. Each item is
   * written merged with what it holds, as `putSettled` would leave it: a final or early answer
   * already recorded wins over this one (the first write wins), the acceptance and model are kept,
   * an error is cleared and the expiry moves. The read and the puts are not
   * one atomic step: a concurrent write of the same item between them is overwritten (an acceptance
   * recorded in that gap is lost; the final answer is not), so callers run one batch of a request
   * at a time (`BatchedSettles`). Returns, per entry in order, undefined once it is recorded or
   * kept, else the error that kept it from being written; never rejects for one entry's failure.
   */
  async putSettledMany(entries: readonly SettledAnswers[]): Promise<(Error | undefined)[]> {
    const outcomes: (Error | undefined)[] = entries.map(() => undefined);
    const items: { index: number; id: string; model: string; final: object; early?: object }[] = [];
    entries.forEach((entry, index) => {
      try {
        const id = parseInput(requestIdSchema, entry.requestId, 'request id');
        const model = parseInput(modelIdSchema, entry.model, 'model');
        const final = withoutUndefined(parseInput(storedFinalSchema, entry.final, 'final answer'));
        let early: object | undefined;
        if (entry.early !== undefined) {
          const { model: earlyModel, ...checked } = parseInput(earlyInputSchema, entry.early, 'early answer');
          if (earlyModel !== model) {
            throw new InputError(
              `early answer of request ${id} names model ${earlyModel}, its final answer ${model}`,
            );
          }
          early = checked;
        }
        items.push({ index, id, model, final, ...(early === undefined ? {} : { early }) });
      } catch (error) {
        outcomes[index] = error instanceof Error ? error : new Error(String(error));
      }
    });
    const key = RESULTS_TABLE.partitionKey.name;
    for (let start = 0; start < items.length; start += BATCH_GET_LIMIT) {
      const chunk = items.slice(start, start + BATCH_GET_LIMIT);
      const ids = [...new Set(chunk.map((item) => item.id))];
      let existing: Map<string, Record<string, unknown>>;
      try {
        existing = await this.batchGet(ids);
      } catch (error) {
        for (const item of chunk) outcomes[item.index] = error as Error;
        continue;
      }
      const nowMs = this.nowMs();
      const puts: { indices: number[]; item: Record<string, unknown> }[] = [];
      const byId = new Map<string, { indices: number[]; item: Record<string, unknown> }>();
      for (const item of chunk) {
        const seen = byId.get(item.id);
        if (seen !== undefined) {
          // A repeat within the batch: the first one's write stands for both.
          seen.indices.push(item.index);
          continue;
        }
        const stored = existing.get(item.id);
        const live =
          stored !== undefined && Number(stored[TTL_ATTRIBUTE]) * 1000 > nowMs ? stored : undefined;
        const kept: Record<string, unknown> = { ...live };
        delete kept['error'];
        const merged: Record<string, unknown> = {
          ...kept,
          [key]: item.id,
          model: kept['model'] ?? item.model,
          // A final answer already recorded wins; an early one too, below.
          final: kept['final'] ?? { ...item.final, recordedAtMs: nowMs },
          [TTL_ATTRIBUTE]: this.expiresAt(nowMs),
        };
        const early =
          kept['early'] ?? (item.early === undefined ? undefined : { ...item.early, recordedAtMs: nowMs });
        if (early !== undefined) merged['early'] = early;
        const put = { indices: [item.index], item: merged };
        byId.set(item.id, put);
        puts.push(put);
      }
      for (let from = 0; from < puts.length; from += BATCH_WRITE_LIMIT) {
        const group = puts.slice(from, from + BATCH_WRITE_LIMIT);
        const left = await this.batchPut(group.map((put) => put.item)).catch((error: unknown) =>
          group.map((put) => ({ put: put.item, error: error as Error })),
        );
        for (const { put, error } of left) {
          const failed = group.find((candidate) => candidate.item === put);
          for (const index of failed?.indices ?? []) outcomes[index] = error;
        }
      }
    }
    return outcomes;
  }

  /** The stored items of `ids` (at most 100), strongly consistent, retrying unprocessed keys. */
  private async batchGet(ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const key = RESULTS_TABLE.partitionKey.name;
    const found = new Map<string, Record<string, unknown>>();
    let keys: Record<string, unknown>[] = ids.map((id) => ({ [key]: id }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > BATCH_RETRIES)
        throw new Error(`${keys.length} results left unread after ${BATCH_RETRIES} retries`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
      const output = await this.client.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of output.Responses?.[this.tableName] ?? []) found.set(String(item[key]), item);
      keys = output.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
    }
    return found;
  }

  /** Puts up to 25 items, retrying unprocessed ones; returns those still unwritten, with why. */
  private async batchPut(
    items: readonly Record<string, unknown>[],
  ): Promise<{ put: Record<string, unknown>; error: Error }[]> {
    let pending = [...items];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > BATCH_RETRIES) {
        const error = new Error(`result left unwritten after ${BATCH_RETRIES} retries`);
        return pending.map((put) => ({ put, error }));
      }
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
      const output = await this.client.send(
        new BatchWriteCommand({
          RequestItems: { [this.tableName]: pending.map((item) => ({ PutRequest: { Item: item } })) },
        }),
      );
      const left = output.UnprocessedItems?.[this.tableName] ?? [];
      const key = RESULTS_TABLE.partitionKey.name;
      const leftIds = new Set(left.map((request) => String(request.PutRequest?.Item?.[key])));
      pending = pending.filter((item) => leftIds.has(String(item[key])));
    }
    return [];
  }

  /**
   * Records why a request failed. Returns false, changing nothing, when a final answer is already
   * recorded (the error came from a later, redundant delivery) or an error was already there.
   */
  async putError(requestId: string, error: AnswerError): Promise<boolean> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const checked = parseInput(answerErrorSchema, error, 'result error');
    const nowMs = this.nowMs();
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [RESULTS_TABLE.partitionKey.name]: id },
          UpdateExpression: 'SET #error = if_not_exists(#error, :error), #expiresAt = :expiresAt',
          ConditionExpression: 'attribute_not_exists(#final)',
          ExpressionAttributeNames: { '#error': 'error', '#final': 'final', '#expiresAt': TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ':error': {
              code: checked.code,
              message: checked.message.slice(0, MAX_ERROR_MESSAGE_LENGTH),
              recordedAtMs: nowMs,
            },
            ':expiresAt': this.expiresAt(nowMs),
          },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return Attributes?.['error'] === undefined;
    } catch (failure) {
      if (isServiceError(failure, CONDITIONAL_CHECK_FAILED)) return false;
      throw failure;
    }
  }

  /**
   * The request's record, or undefined when there is none or it has expired. Throws ArtifactError
   * when the stored item fails the schema, so a corrupt item is never served as an answer.
   */
  async get(requestId: string): Promise<ResultRecord | undefined> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [RESULTS_TABLE.partitionKey.name]: id },
        ConsistentRead: true,
      }),
    );
    return Item === undefined ? undefined : this.toRecord(id, Item);
  }

  /**
   * Many requests' records in few calls (strongly consistent BatchGetItem, 100 keys a call), as
   * `get` returns each: a request without a live record maps to undefined. Rejects when a call
   * fails or an item is corrupt.
   */
  async getMany(requestIds: readonly string[]): Promise<Map<string, ResultRecord | undefined>> {
    const ids = [...new Set(requestIds.map((id) => parseInput(requestIdSchema, id, 'request id')))];
    const records = new Map<string, ResultRecord | undefined>();
    for (let start = 0; start < ids.length; start += BATCH_GET_LIMIT) {
      const chunk = ids.slice(start, start + BATCH_GET_LIMIT);
      const found = await this.batchGet(chunk);
      for (const id of chunk) {
        const item = found.get(id);
        records.set(id, item === undefined ? undefined : this.toRecord(id, item));
      }
    }
    return records;
  }

  /** A stored item as a record (undefined once expired); ArtifactError when it fails the schema. */
  private toRecord(id: string, Item: Record<string, unknown>): ResultRecord | undefined {
    const parsed = storedResultSchema.safeParse(Item);
    if (!parsed.success) {
      throw new ArtifactError(
        `result item for request ${id} in ${this.tableName} is corrupt: ${describeIssues(parsed.error.issues)}`,
        { cause: parsed.error },
      );
    }
    const item = parsed.data;
    if (item[TTL_ATTRIBUTE] * 1000 <= this.nowMs()) return undefined;
    return {
      requestId: item.requestId,
      status: answeredStatus(item) ?? 'pending',
      ...withoutUndefined({
        model: item.model,
        accepted: item.accepted,
        early: item.early,
        final: item.final,
        error: item.error,
      }),
      expiresAt: item[TTL_ATTRIBUTE],
    };
  }

  private expiresAt(nowMs: number): number {
    return Math.ceil((nowMs + this.ttlMs) / 1000);
  }
}
