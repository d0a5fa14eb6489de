/**
 * The functions' public entry, for the local stack and tools that run the same handlers outside
 * Lambda: the ingest and result handlers behind their dependencies, the bundle catalogs, the
 * controller run and its timer, and the local HTTP server. The Lambda entry files beside this one
 * (`ingest.ts`, `result.ts`, `controller.ts`) wire these to the AWS environment.
 */
export {
  createIngestHandler,
  createIngestHandlers,
  type IngestDependencies,
  type IngestHandlers,
} from './api/ingest-handler';
export { createOpenInferenceHandler, type OpenInferenceDependencies } from './api/open-inference/handler';
export { AdmissionControl, type AdmissionOptions } from './api/admission';
export { dispatcherRouting, PlanRouting, type PlanRoutingOptions } from './api/plan-routing';
export type { TaskRouting } from './api/ingest-handler';
export { WriteBehind, type WriteBehindOptions } from './api/write-behind';
export { createResultHandler, type ResultDependencies } from './api/result-handler';
export type { ApiHandler } from './api/http';
export { buildOpenApiDocument, type OpenApiDocument } from './api/openapi';
export {
  localBundleCatalog,
  s3BundleCatalog,
  MANIFEST_FILE_NAME,
  type BundleCatalog,
  type S3BundleCatalogOptions,
} from './catalog/bundle-catalog';
export {
  runController,
  DEFAULT_CONTROLLER_TUNING,
  type ControllerDeps,
  type ControllerRunReport,
  type ControllerTuning,
} from './controller/run-controller';
export {
  startControllerTimer,
  type ControllerTimer,
  type ControllerTimerOptions,
} from './controller/controller-timer';
export { startApiServer, METRICS_PATH, type ApiServer, type ApiServerOptions } from './local/api-server';
export { ApiMetrics, type ApiMetricsSources } from './local/api-metrics';
export {
  createDashboardHandlers,
  DASHBOARD_DATA_PATH,
  DASHBOARD_PAGE_PATH,
} from './dashboard/dashboard-handler';
export {
  buildDashboardSnapshot,
  dashboardSnapshotSchema,
  type DashboardSnapshot,
  type DashboardSources,
  type ModelPanel,
} from './dashboard/dashboard-snapshot';
