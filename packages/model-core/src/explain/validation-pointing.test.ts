import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { resolveHyperparameters } from '@braintune/protocol';
import { initBackend } from '../backend/index.js';
import { loadBundle, readBundleManifest } from '../dataset/bundle.js';
import { prepareDataset } from '../dataset/prepare.js';
import { buildModel } from '../models/build.js';
import { makePhantoms } from '../phantoms/make.js';
import { lesionMaskPath, readLesionMasks } from '../phantoms/masks.js';
import { scorePointing, validationPointingCases } from './validation-pointing.js';

/** Per-trial pointing game: the validation phantoms with lesion masks, on the bundle's own pixels. */
let root: string;
let store: FilesystemArtifactStore;
const imageSize = 32;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  root = await mkdtemp(path.join(tmpdir(), 'braintune-val-pointing-'));
  store = new FilesystemArtifactStore(path.join(root, 'artifacts'));
  await makePhantoms({ outDir: path.join(root, 'masked'), perClass: 10, size: 64, seed: 3, masks: true });
  // Another seed: the same images would share the masked set's content-addressed bundle.
  await makePhantoms({ outDir: path.join(root, 'plain'), perClass: 10, size: 64, seed: 4 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function prepared(dir: string, headCrop = false) {
  const { hash } = await prepareDataset({
    store,
    dataDir: path.join(root, dir),
    imageSize,
    valFraction: 0.4,
    seed: 1,
    headCrop,
  });
  return { bundle: await loadBundle(store, hash), manifest: await readBundleManifest(store, hash) };
}

describe('validation pointing cases', () => {
  it('takes the validation tumour scans with masks, in turns across classes, with the bundle pixels', async () => {
    const { bundle, manifest } = await prepared('masked');
    const cases = await validationPointingCases(bundle, manifest);
    const val = new Set(bundle.split.val);
    const tumourVal = bundle.split.val.filter((i) => bundle.classes[bundle.labels[i]!] !== 'no_tumor');
    expect(cases.length).toBe(tumourVal.length);
    expect(cases.length).toBeGreaterThan(3);
    for (const c of cases) {
      const file = manifest.files.find((f) => path.join(manifest.source, f.path) === c.file)!;
      expect(val.has(file.index)).toBe(true);
      expect(bundle.classes[c.classIndex]).not.toBe('no_tumor');
      const start = file.index * imageSize * imageSize;
      expect(c.pixels).toEqual(bundle.images.subarray(start, start + imageSize * imageSize));
      const masks = await readLesionMasks(
        lesionMaskPath(manifest.source, bundle.classes[c.classIndex]!, path.basename(c.file)),
        imageSize,
      );
      expect(c.core).toEqual(masks!.core);
    }
    // Capped in turns: two cases of a cap of 3 never come from the same class while others wait.
    const capped = await validationPointingCases(bundle, manifest, 3);
    expect(new Set(capped.map((c) => c.classIndex)).size).toBe(3);
  });

  it('finds none in a data set without masks, or when a head crop moves each scan by its own box', async () => {
    const plain = await prepared('plain');
    expect(await validationPointingCases(plain.bundle, plain.manifest), 'plain').toEqual([]);
    const cropped = await prepared('masked', true);
    expect(await validationPointingCases(cropped.bundle, cropped.manifest)).toEqual([]);
  });

  it("scores a model's default explanation on them, against what a random map gets", async () => {
    const { bundle, manifest } = await prepared('masked');
    const cases = await validationPointingCases(bundle, manifest);
    const hparams = resolveHyperparameters({ imageSize, convBlocks: 2, baseFilters: 4 });
    const model = await buildModel(hparams, { imageSize, numClasses: bundle.classes.length });
    try {
      const score = scorePointing(model, cases, bundle.classes)!;
      expect(score).toMatchObject({ scans: cases.length, method: 'gradcam++' });
      expect(score.layer).not.toBe('');
      for (const v of [
        score.pointingAccuracy,
        score.massInside,
        score.chance.pointingAccuracy,
        score.chance.massInside,
      ]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(score.chance.massInside).toBeGreaterThan(0);
      expect(scorePointing(model, [], bundle.classes)).toBeNull();
    } finally {
      model.dispose();
    }
  });
});
