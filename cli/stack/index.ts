/**
 * The local stack's public entry (what `npm start` runs: the API, workers, dynalite and the
 * controller in one process), for benchmarks that measure it end to end as a client would.
 */
export { startLocalStack, type LocalStack, type LocalStackOptions } from './local-stack';
export { ensureFixtureBundles, type FixtureBundle, type FixtureBundleOptions } from './fixture-bundles';
export { CACHE_DIR, FIXTURE_MODELS } from './stack-options';
export { readThreadLayout } from '../thread-options';
