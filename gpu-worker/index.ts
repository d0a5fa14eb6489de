/**
 * The GPU worker's public entry: the serving worker, its bootstrap mode, result sinks, metrics and
 * logging, and the process wiring behind `apparate worker`. The CLI and the benchmarks import the
 * worker only from here; the files beside this one are its internals.
 */
export { ApparateWorker, installSignalHandlers, type WorkerCounts, type WorkerOptions } from './worker';
export {
  BootstrapWorker,
  MIN_BOOTSTRAP_SAMPLES,
  type BootstrapOptions,
  type BootstrapPhase,
} from './bootstrap';
export type { BatchReport } from './batch-execution';
export type { LocalGuardOptions } from './local-guard';
export { CallbackResultSink, type SinkEvent } from './result-sink';
export { PublishingResultSink } from './publishing-result-sink';
export { DEFAULT_EMF_PERIOD_MS, EmfEmitter, type EmfEmitterOptions } from './emf-emitter';
export { startMetricsServer, WorkerMetrics } from './metrics';
export { jsonLinesLogger, messageOf, silentLogger, type Logger, type LogLevel } from './logger';
export { DEFAULT_CONFIG_POLL_MS } from './config-watcher';
export { GenerationEngine, type GenerationStream, type StreamListener } from './generate/generation-engine';
export { GenerationMetrics } from './generate/generation-metrics';
export { startGenerateServer, type GenerateServer } from './generate/generate-server';
export { serveGenerate } from './generate/generate-route';
export { recordGenerationLogs, generationLogItem } from './generate/generation-exit-log';
export { CapacityError, type GenerationEvent, type GenerationLoopOptions } from './generate/generation-loop';
export {
  RESULT_KINDS,
  runWorkerProcess,
  type ResultKind,
  type WorkerProcessIo,
  type WorkerProcessSettings,
  type WorkerSource,
} from './main';
export { defaultThreadLayout, resolveThreadLayout, type ThreadLayout } from '../core/inference/thread-layout';
