import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBatchEncoder } from '../../../core/inference/batch-encoding';
import { openSession } from '../../../core/inference/onnx-session';
import { sampleAt } from '../../../core/data/dataset';
import { loadFixtureModel, loadModelData } from '../../../core/zoo/fixtures';

describe('a blocking session (the binding run on the calling thread)', () => {
  it.each(['mnist-resnet', 'spam-bert'])(
    'gives %s the same answers as the public API, profiles, and releases',
    async (name) => {
      // Given the fixture model and a batch of real serving inputs
      const model = await loadFixtureModel(name);
      const stream = await loadModelData(model, 'serving');
      const feeds = createBatchEncoder(model.spec).encode(
        Array.from({ length: 4 }, (_, i) => sampleAt(stream, i)),
      );
      const dir = mkdtempSync(join(tmpdir(), 'apparate-blocking-'));
      const publicApi = await openSession(model.onnxPath, { intraOpThreads: 1 });
      const blocking = await openSession(model.onnxPath, {
        intraOpThreads: 1,
        blocking: true,
        profileFilePrefix: join(dir, 'run'),
      });
      try {
        // When both run the batch
        const expected = await publicApi.run(feeds);
        const got = await blocking.run(feeds);

        // Then they name the same inputs and outputs and agree to the bit
        expect(blocking.inputNames).toEqual(publicApi.inputNames);
        expect(blocking.outputNames).toEqual(publicApi.outputNames);
        for (const output of publicApi.outputNames) {
          expect(got[output]?.dims).toEqual(expected[output]?.dims);
          expect(Array.from(got[output]?.data ?? [])).toEqual(Array.from(expected[output]?.data ?? []));
        }
        // And the binding's profile is written where the public API's would be
        expect(existsSync(await blocking.endProfiling())).toBe(true);
      } finally {
        await Promise.all([publicApi.release(), blocking.release()]);
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('reports a bad model as the public API does', async () => {
    await expect(openSession(new Uint8Array([1, 2, 3]), { blocking: true })).rejects.toThrow(
      /onnxruntime cannot load in-memory model/,
    );
  });
});
