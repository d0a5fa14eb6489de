/**
 * How stored state is shown to clients: a request's record as its status view or as the answer of
 * a synchronous request, a bundle manifest as a model summary, a config as the model's config view.
 * Kept apart from the handlers so both handlers (and the sync wait) show the same thing the same way.
 */
import type { AnswerEvent } from '../../adapters/answers';
import type { ResultRecord } from '../../adapters/dynamo';
import type { BundleManifest } from '../../core/bundle/manifest';
import type { RampConfig } from '../../core/control/ramp-config';
import { DEFAULT_MAX_TEXT_CHARS } from '../../core/inference/input-validation';
import type {
  EarlyAnswerView,
  FinalAnswerView,
  InferAnswer,
  ModelConfigView,
  ModelInputView,
  ModelSummary,
  RequestStatusView,
} from './schemas';

/** The URL path of a request's result. */
export function resultPath(requestId: string): string {
  return `/v1/requests/${requestId}`;
}

function earlyView(record: ResultRecord): EarlyAnswerView | undefined {
  const early = record.early;
  if (early === undefined) return undefined;
  return {
    label: early.label,
    confidence: early.confidence,
    exit: early.exit,
    configVersion: early.configVersion,
    latencyMs: early.latencyMs,
  };
}

function finalView(record: ResultRecord): FinalAnswerView | undefined {
  const final = record.final;
  if (final === undefined) return undefined;
  return {
    label: final.label,
    confidence: final.confidence,
    latencyMs: final.latencyMs,
    ...(final.configVersion === undefined ? {} : { configVersion: final.configVersion }),
    ...(final.agreesWithEarly === undefined ? {} : { agreesWithEarly: final.agreesWithEarly }),
  };
}

/** GET /v1/requests/{id}: the state and every answer known so far. */
export function requestStatusView(record: ResultRecord): RequestStatusView {
  const early = earlyView(record);
  const final = finalView(record);
  const deadlineAtMs = record.accepted?.deadlineAtMs;
  return {
    requestId: record.requestId,
    ...(record.model === undefined ? {} : { model: record.model }),
    status: record.status,
    ...(deadlineAtMs === undefined ? {} : { deadlineAt: new Date(deadlineAtMs).toISOString() }),
    ...(early === undefined ? {} : { early }),
    ...(final === undefined ? {} : { final }),
    ...(record.error === undefined
      ? {}
      : { error: { code: record.error.code, message: record.error.message } }),
  };
}

/**
 * The answer a synchronous request returns once its record holds one: the early answer when a ramp
 * released it (with the final answer beside it if that is known too), else the final answer.
 * Undefined while there is no answer (pending, or only an error).
 */
export function inferAnswerView(
  record: ResultRecord,
  model: string,
  totalMs: number,
): InferAnswer | undefined {
  const early = earlyView(record);
  const final = finalView(record);
  if (early !== undefined) {
    return {
      requestId: record.requestId,
      model,
      label: early.label,
      confidence: early.confidence,
      exit: early.exit,
      configVersion: early.configVersion,
      latencyMs: { total: totalMs, worker: early.latencyMs },
      ...(final === undefined ? {} : { final }),
    };
  }
  if (final !== undefined) {
    return {
      requestId: record.requestId,
      model,
      label: final.label,
      confidence: final.confidence,
      exit: 'final',
      ...(final.configVersion === undefined ? {} : { configVersion: final.configVersion }),
      latencyMs: { total: totalMs, worker: final.latencyMs },
    };
  }
  return undefined;
}

/** A pushed early answer as the API shows it (the same fields as the stored one). */
export function earlyViewOfEvent(event: Extract<AnswerEvent, { kind: 'early' }>): EarlyAnswerView {
  return {
    label: event.label,
    confidence: event.confidence,
    exit: event.exit,
    configVersion: event.configVersion,
    latencyMs: event.latencyMs,
  };
}

/** A pushed final answer as the API shows it. */
export function finalViewOfEvent(event: Extract<AnswerEvent, { kind: 'final' }>): FinalAnswerView {
  return {
    label: event.label,
    confidence: event.confidence,
    latencyMs: event.latencyMs,
    configVersion: event.configVersion,
    ...(event.agreesWithEarly === undefined ? {} : { agreesWithEarly: event.agreesWithEarly }),
  };
}

/** The synchronous answer from a pushed early or final answer, shaped as `inferAnswerView` shapes a record. */
export function inferAnswerOfEvent(
  event: Extract<AnswerEvent, { kind: 'early' | 'final' }>,
  model: string,
  totalMs: number,
): InferAnswer {
  const view = event.kind === 'early' ? earlyViewOfEvent(event) : finalViewOfEvent(event);
  return {
    requestId: event.requestId,
    model,
    label: view.label,
    confidence: view.confidence,
    exit: event.kind === 'early' ? event.exit : 'final',
    configVersion: event.configVersion,
    latencyMs: { total: totalMs, worker: event.latencyMs },
  };
}

/** What a model takes, from its spec, in the terms the input validator checks. */
export function modelInputView(manifest: BundleManifest): ModelInputView {
  const pre = manifest.model.spec.preprocessing;
  if (pre.type === 'image') {
    return {
      kind: 'image',
      height: pre.height,
      width: pre.width,
      channels: pre.channels,
      length: pre.height * pre.width * pre.channels,
      minValue: 0,
      maxValue: 255,
    };
  }
  return { kind: 'text', maxChars: DEFAULT_MAX_TEXT_CHARS };
}

/** One entry of GET /v1/models. */
export function modelSummaryView(
  model: string,
  manifest: BundleManifest,
  configVersion: number,
): ModelSummary {
  const spec = manifest.model.spec;
  const base = `/v1/models/${encodeURIComponent(model)}`;
  return {
    name: model,
    task: spec.task,
    classes: [...spec.classes],
    input: modelInputView(manifest),
    configVersion,
    links: { infer: `${base}/infer`, config: `${base}/config` },
  };
}

/** GET /v1/models/{model}/config: the config with each ramp's place in the model. */
export function modelConfigView(
  model: string,
  manifest: BundleManifest,
  config: RampConfig,
  published: { readonly publishedAtMs: number } | undefined,
): ModelConfigView {
  const fractions = new Map(manifest.candidates.map((c) => [c.id, c.latencyFraction]));
  return {
    model,
    version: config.version,
    source: published === undefined ? 'initial' : 'published',
    ...(published === undefined ? {} : { publishedAt: new Date(published.publishedAtMs).toISOString() }),
    ramps: config.ramps.map((ramp) => {
      const latencyFraction = fractions.get(ramp.id);
      return {
        id: ramp.id,
        threshold: ramp.threshold,
        ...(latencyFraction === undefined ? {} : { latencyFraction }),
      };
    }),
  };
}
