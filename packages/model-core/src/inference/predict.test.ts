import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENSEMBLE_MANIFEST, resolveHyperparameters, type Calibration } from '@braintune/protocol';
import { initBackend } from '../backend/index.js';
import { calibrate } from '../calibration/calibrate.js';
import { applyTemperature } from '../calibration/temperature.js';
import {
  loadCheckpoint,
  readCheckpointState,
  saveCheckpoint,
  storeCalibration,
} from '../checkpoint/checkpoint.js';
import { buildModel } from '../models/build.js';
import { PIXEL_SCALE, pixelsToTensor } from '../training/batches.js';
import { syntheticBundle } from '../training/synthetic-bundle.js';
import { loadPredictor } from './ensemble.js';
import { predict, REFER } from './predict.js';

const SIZE = 16;
const CLASSES = ['a', 'b', 'c'];
const hparams = resolveHyperparameters({
  imageSize: SIZE,
  convBlocks: 2,
  baseFilters: 4,
  denseUnits: 8,
  dense2Units: 0,
});
let dir: string;
let pixels: Uint8Array;
let scan: Buffer;
let mirrored: Buffer;

async function writeCheckpoint(target: string, seed: number): Promise<void> {
  const model = await buildModel(hparams, { imageSize: SIZE, numClasses: CLASSES.length, seed });
  await saveCheckpoint(target, model, {
    format: 1,
    epoch: 1,
    step: 1,
    rngState: 0,
    seed,
    hparams,
    classes: CLASSES,
    imageSize: SIZE,
    preprocessing: { grayscale: true, resize: 'contain', kernel: 'lanczos3', imageSize: SIZE },
    pixelScale: PIXEL_SCALE,
    bundleHash: 'a'.repeat(64),
    backend: 'wasm',
    history: [],
    evaluation: null,
    savedAt: new Date().toISOString(),
  });
  model.dispose();
}

const calibration = (temperature: number, threshold: number): Calibration => ({
  temperature,
  eceBefore: 0.2,
  eceAfter: 0.05,
  nllBefore: 1,
  nllAfter: 0.9,
  images: 10,
  operatingPoint: {
    threshold,
    targetError: 0.05,
    maxReferral: 0.25,
    referralRate: 0.1,
    acceptedErrorRate: 0.04,
    targetMet: true,
  },
});

beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  await initBackend({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'braintune-predict-'));
  await writeCheckpoint(join(dir, 'one'), 3);
  await writeCheckpoint(join(dir, 'two'), 4);
  // An asymmetric scan at the model's size (no resampling), and its mirror image.
  pixels = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) pixels[y * SIZE + x] = x < 5 ? 230 : (x * y) % 60;
  const raw = { raw: { width: SIZE, height: SIZE, channels: 1 as const } };
  scan = await sharp(Buffer.from(pixels), raw).png().toBuffer();
  mirrored = await sharp(Buffer.from(pixels), raw).flop().png().toBuffer();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('predict', () => {
  it('serves a checkpoint without calibration as before: raw softmax, never refers', async () => {
    const loaded = await loadCheckpoint(join(dir, 'one'));
    const raw = tf.tidy(() => (loaded.model.apply(pixelsToTensor([pixels], SIZE)) as tf.Tensor).dataSync());
    const p = await predict(loaded, scan);
    loaded.model.dispose();
    p.probabilities.forEach((v, i) => expect(v).toBeCloseTo(raw[i] as number, 6));
    expect(p).toMatchObject({ threshold: 0, refer: false, temperature: 1, tta: false });
    expect(p.decision).toBe(p.predicted);
    expect(p.confidence).toBe(Math.max(...p.probabilities));
  });

  it('applies the stored temperature and refers scans below the stored threshold', async () => {
    const target = join(dir, 'calibrated');
    await cp(join(dir, 'one'), target, { recursive: true });
    const before = await predict(target, scan);
    await storeCalibration(target, calibration(2, 0.99));
    expect((await readCheckpointState(target))?.calibration?.temperature).toBe(2);
    const p = await predict(target, scan);
    const expected = applyTemperature(new Float32Array(before.probabilities), 3, 2);
    p.probabilities.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 6));
    expect(p).toMatchObject({ refer: true, decision: REFER, threshold: 0.99, temperature: 2 });
    expect(p.predicted).toBe(before.predicted);
    await storeCalibration(target, calibration(2, 0.01));
    expect(await predict(target, scan)).toMatchObject({ refer: false, decision: before.predicted });
  });

  it('with flip TTA equals the mean of the plain and the mirrored pass', async () => {
    const target = join(dir, 'calibrated');
    const [plain, flipped] = await predict(target, [scan, mirrored]);
    const tta = await predict(target, scan, { tta: true });
    expect(tta.tta).toBe(true);
    tta.probabilities.forEach((v, i) =>
      expect(v).toBeCloseTo(((plain?.probabilities[i] ?? 0) + (flipped?.probabilities[i] ?? 0)) / 2, 6),
    );
  });

  it("serves an ensemble directory: the mean of its members' calibrated probabilities", async () => {
    const target = join(dir, 'ensemble');
    await mkdir(target);
    await cp(join(dir, 'calibrated'), join(target, 'member-1'), { recursive: true });
    await cp(join(dir, 'two'), join(target, 'member-2'), { recursive: true });
    await writeFile(
      join(target, ENSEMBLE_MANIFEST),
      JSON.stringify({
        format: 1,
        classes: CLASSES,
        threshold: 0.5,
        members: [
          { dir: 'member-1', trialId: 't1', rank: 1 },
          { dir: 'member-2', trialId: null, rank: 2 },
        ],
      }),
    );
    const a = await predict(join(target, 'member-1'), scan, { tta: true });
    const b = await predict(join(target, 'member-2'), scan, { tta: true });
    const loaded = await loadPredictor(target);
    const e = await predict(loaded, scan, { tta: true });
    e.probabilities.forEach((v, i) =>
      expect(Math.abs(v - ((a.probabilities[i] ?? 0) + (b.probabilities[i] ?? 0)) / 2)).toBeLessThan(1e-6),
    );
    expect(e).toMatchObject({ threshold: 0.5, temperature: null, refer: e.confidence < 0.5 });
  });

  it('rejects an ensemble whose members predict other classes', async () => {
    const target = join(dir, 'bad-ensemble');
    await mkdir(target);
    await cp(join(dir, 'one'), join(target, 'member-1'), { recursive: true });
    await cp(join(dir, 'two'), join(target, 'member-2'), { recursive: true });
    await writeFile(
      join(target, ENSEMBLE_MANIFEST),
      JSON.stringify({
        format: 1,
        classes: ['x', 'y', 'z'],
        threshold: 0,
        members: [
          { dir: 'member-1', trialId: null, rank: 1 },
          { dir: 'member-2', trialId: null, rank: 2 },
        ],
      }),
    );
    await expect(loadPredictor(target)).rejects.toThrow(/member-1 .* predicts a, b, c, the ensemble x, y, z/);
  });
});

describe('calibrate', () => {
  it('fits on the validation split and stores the result with the latest snapshot', async () => {
    const bundle = syntheticBundle({ imageSize: SIZE, classes: 3, perClass: 8 });
    const target = join(dir, 'fit');
    await writeCheckpoint(target, 5);
    const loaded = await loadCheckpoint(target);
    const c = await calibrate(loaded.model, bundle, { checkpointDir: target });
    loaded.model.dispose();
    expect(c.images).toBe(bundle.split.val.length);
    expect(c.temperature).toBeGreaterThan(0);
    expect((await readCheckpointState(target))?.calibration).toEqual(c);
  });
});
