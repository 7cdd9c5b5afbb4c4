import { mkdir } from 'node:fs/promises';
import { buildModel, initBackend, saveCheckpoint, PIXEL_SCALE } from '@braintune/model-core';
import { resolveHyperparameters, type Calibration } from '@braintune/protocol';
import { CLASSES } from './fixtures.js';

/**
 * Writes a real model-core checkpoint (a small seed-like CNN, weights from its seeded
 * initialiser) into `dir`, as a worker would after an epoch. Enough for the registry to
 * copy it and for predictions to be compared; no training needed.
 */
export async function writeTinyCheckpoint(
  dir: string,
  options: { imageSize?: number; seed?: number; calibration?: Calibration } = {},
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
    ...(options.calibration ? { calibration: options.calibration } : {}),
    savedAt: new Date().toISOString(),
  });
  model.dispose();
}

/** A stored calibration with the given temperature and referral threshold (other numbers illustrative). */
export function calibrationFor(temperature: number, threshold: number): Calibration {
  return {
    temperature,
    eceBefore: 0.12,
    eceAfter: 0.03,
    nllBefore: 0.6,
    nllAfter: 0.5,
    images: 40,
    operatingPoint: {
      threshold,
      targetError: 0.05,
      maxReferral: 0.25,
      referralRate: 0.2,
      acceptedErrorRate: 0.04,
      targetMet: true,
    },
  };
}
