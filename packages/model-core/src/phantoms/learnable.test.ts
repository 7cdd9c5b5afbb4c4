import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { resolveHyperparameters } from '@braintune/protocol';
import { initBackend } from '../backend/index.js';
import { loadBundle, prepareDataset } from '../dataset/index.js';
import { train } from '../training/train.js';
import { makePhantoms } from './index.js';

let work: string;
beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  work = await mkdtemp(path.join(tmpdir(), 'braintune-phantoms-learn-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('phantom classes are learnable', () => {
  // Measured here (wasm, one thread): ~7 s to generate and prepare, ~9 s per epoch at 48 px; val
  // accuracy passes 0.95 around epoch 6-8 and ends near 0.98.
  it(
    'a short training on 200 phantoms per class reaches >= 0.95 val accuracy',
    { timeout: 600_000 },
    async () => {
      const dataDir = path.join(work, 'data');
      await makePhantoms({ outDir: dataDir, perClass: 200, size: 128, seed: 'learnable' });
      const store = new FilesystemArtifactStore(path.join(work, 'store'));
      // Byte-identical split: phantoms of one seed look alike to a perceptual hash, and this test is
      // about learnability, with an exact 160-image validation side.
      const prepared = await prepareDataset({
        store,
        dataDir,
        imageSize: 48,
        valFraction: 0.2,
        seed: 1,
        nearDuplicateThreshold: null,
      });
      const bundle = await loadBundle(store, prepared.hash);
      expect(bundle.classes).toEqual(['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor']);
      expect(bundle.split.val.length).toBe(160);

      await initBackend({ backend: 'wasm' });
      const epochs = 10;
      const hparams = resolveHyperparameters({
        imageSize: 48,
        convBlocks: 4,
        baseFilters: 16,
        convBatchNorm: true,
        convDropout: 0,
        pooling: 'gap',
        denseUnits: 32,
        dense2Units: 0,
        denseBatchNorm: false,
        bnMomentum: 0.9,
        preciseBn: true,
        learningRate: 5e-3,
        lrSchedule: 'cosine',
        scheduleEpochs: epochs,
        batchSize: 32,
      });
      const result = await train({ bundle, hparams, toEpoch: epochs, seed: 1 });
      const last = result.history.at(-1)!;
      expect(result.history).toHaveLength(epochs);
      expect(last.valAccuracy).toBeGreaterThanOrEqual(0.95);
      result.model.dispose();
    },
  );
});
