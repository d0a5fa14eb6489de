/**
 * Run by the lifecycle test as a Node process of its own, the way the CLI runs (`node -r tsx/cjs`):
 * starts an engine on the bundle named by the first argument, serves one batch of real serving
 * inputs, closes the engine and returns without calling `process.exit`. The process therefore
 * ends only if `close()` left nothing open (no thread, port, session or timer).
 */
import { readBundle } from '../../../core/bundle/bundle-io';
import { sampleAt } from '../../../core/data/dataset';
import { createBatchEncoder } from '../../../core/inference/batch-encoding';
import { loadFixtureModel, loadModelData } from '../../../core/zoo/fixtures';
import { InferenceEngine } from '../../../gpu-worker/inference/inference-engine';

async function serveOneBatch(bundleDir: string): Promise<void> {
  const bundle = await readBundle(bundleDir);
  const fixture = await loadFixtureModel(bundle.manifest.model.name);
  const serving = await loadModelData(fixture, 'serving');
  const feeds = createBatchEncoder(fixture.spec).encode(
    [0, 1, 2].map((i) => sampleAt(serving, i)),
    4,
  );
  const engine = await InferenceEngine.start({ bundleDir, config: bundle.manifest.initialConfig });
  const ramps: string[] = [];
  const outcome = await engine.run(feeds, 3, (event) => ramps.push(event.candidateId));
  await engine.close();
  process.stdout.write(`${JSON.stringify({ ramps, logits: outcome.logits.length })}\n`);
}

serveOneBatch(process.argv[2] ?? '').catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
