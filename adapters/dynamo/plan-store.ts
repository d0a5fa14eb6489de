/**
 * Versioned fleet plans per task, in the configs table beside the ramp configs: the controller
 * publishes, the dispatchers and the worker pool follow `latest`. A task's plans live in partition
 * `plan#<task>` (task names are lower-case words, see core/fleet/tasks.ts), with the same head item,
 * conditional writes and history as a model's configs (`versioned-documents.ts`), so a stale or a
 * repeated version is refused and the newest valid plan is what every reader sees.
 */
import { describeIssues, InputError } from '../../core/errors';
import { publishedPlanSchema, type VersionedPlan } from '../../core/fleet/published-plan';
import { taskIdSchema } from '../../core/fleet/tasks';
import type { DocumentSender } from './dynamo-client';
import {
  checkHistoryLimit,
  VersionConflictError,
  VersionedDocuments,
  type InvalidDocumentReport,
} from './versioned-documents';

/** The partition key of a task's plans; `#` keeps them apart from any model's configs. */
export function planPartition(task: string): string {
  return `plan#${task}`;
}

/** The publish lost: its version is not above the newest admitted one, or was published already. */
export class PlanConflictError extends VersionConflictError {
  override readonly name = 'PlanConflictError';
  constructor(
    readonly task: string,
    version: number,
    latestVersion: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('plan', `task ${task}`, version, latestVersion, options);
  }
}

export interface PublishedPlan {
  readonly task: string;
  readonly plan: VersionedPlan;
  readonly publishedAtMs: number;
}

export interface PlanStoreOptions {
  readonly client: DocumentSender;
  readonly tableName: string;
  /** @default Date.now */
  readonly nowMs?: () => number;
  /** Receives every stored plan that fails validation (skipped). @default one JSON line on stderr */
  readonly onInvalidPlan?: (report: InvalidDocumentReport) => void;
}

export class PlanStore {
  private readonly versions: VersionedDocuments<VersionedPlan>;

  constructor(options: PlanStoreOptions) {
    const onInvalid = options.onInvalidPlan ?? defaultInvalidPlanListener;
    this.versions = new VersionedDocuments<VersionedPlan>({
      client: options.client,
      tableName: options.tableName,
      attribute: 'plan',
      schema: publishedPlanSchema,
      versionOf: (plan) => plan.version,
      conflict: (partition, version, latestVersion, cause) =>
        new PlanConflictError(partition.slice('plan#'.length), version, latestVersion, { cause }),
      onInvalid,
      ...(options.nowMs === undefined ? {} : { nowMs: options.nowMs }),
    });
  }

  /**
   * Publishes `plan` as version `plan.version` of `task`. InputError for a plan that fails the
   * schema or names another task; PlanConflictError when the version is not the newest.
   */
  async publish(task: string, plan: VersionedPlan): Promise<PublishedPlan> {
    checkTask(task);
    const parsed = publishedPlanSchema.safeParse(plan);
    if (!parsed.success) {
      throw new InputError(`plan for task ${task} is not valid: ${describeIssues(parsed.error.issues)}`);
    }
    if (parsed.data.plan.task !== task) {
      throw new InputError(`plan for task ${task} names task ${parsed.data.plan.task}`);
    }
    const published = await this.versions.publish(planPartition(task), parsed.data);
    return { task, plan: published.document, publishedAtMs: published.publishedAtMs };
  }

  /** The newest valid plan of `task`, or undefined when it has none. */
  async latest(task: string): Promise<PublishedPlan | undefined> {
    const [newest] = await this.history(task, 1);
    return newest;
  }

  /** Up to `limit` valid plans of `task`, newest first. */
  async history(task: string, limit: number): Promise<PublishedPlan[]> {
    checkTask(task);
    checkHistoryLimit(limit);
    const found = await this.versions.newestValid(planPartition(task), limit);
    return found.map(({ document, publishedAtMs }) => ({ task, plan: document, publishedAtMs }));
  }
}

function checkTask(task: unknown): void {
  const parsed = taskIdSchema.safeParse(task);
  if (!parsed.success) {
    throw new InputError(`task ${JSON.stringify(task)} is not valid: ${describeIssues(parsed.error.issues)}`);
  }
}

function defaultInvalidPlanListener(report: InvalidDocumentReport): void {
  process.stderr.write(
    `${JSON.stringify({ level: 'warn', message: 'invalid stored plan skipped', ...report })}\n`,
  );
}
