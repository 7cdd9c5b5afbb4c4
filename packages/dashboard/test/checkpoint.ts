import { mkdir } from 'node:fs/promises';
import { buildModel, initBackend, saveCheckpoint, PIXEL_SCALE } from '@braintune/model-core';
import { resolveHyperparameters } from '@braintune/protocol';
import { CLASSES } from './fixtures.js';

/**
 * Writes a real model-core checkpoint (a small seed-like CNN, weights from its seeded
 * initialiser) into `dir`, as a worker would after an epoch. Enough for the registry to
 * copy it and for predictions to be compared; no training needed.
 */
export async function writeTinyCheckpoint(
  dir: string,
  options: { imageSize?: number; seed?: number } = {},
): Promise<void> {
  await initBackend({ backend: 'wasm' });
  const imageSize = options.imageSize ?? 32;
  const hparams = resolveHyperparameters({
    imageSize,
    convBlocks: 2,
    baseFilters: 4,
    denseUnits: 16,
    dense2Units: 8,
  });
  const model = await buildModel(hparams, { imageSize, numClasses: CLASSES.length, seed: options.seed ?? 3 });
  await mkdir(dir, { recursive: true });
  await saveCheckpoint(dir, model, {
    format: 1,
    epoch: 1,
    step: 1,
    rngState: 0,
    seed: options.seed ?? 3,
    hparams,
    classes: CLASSES,
    imageSize,
    preprocessing: { grayscale: true, resize: 'contain', kernel: 'lanczos3', imageSize },
    pixelScale: PIXEL_SCALE,
    bundleHash: 'a'.repeat(64),
    backend: 'wasm',
    history: [],
    evaluation: null,
    savedAt: new Date().toISOString(),
  });
  model.dispose();
}
