import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHyperparameters, type Hyperparameters, type HyperparametersInput } from '@braintune/protocol';
import { initBackend } from '../backend/index.js';
import { augmentBatch } from '../augment/augment.js';
import { imagesTensor } from './batches.js';
import { recalibrateBatchNorm } from './precise-bn.js';
import { Rng } from './rng.js';
import { syntheticBundle } from './synthetic-bundle.js';
import { balancedClassWeights, train } from './train.js';
import { buildModel } from '../models/build.js';

let dir: string;
beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  await initBackend({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'braintune-train-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Small but complete: conv BN, dropout, augmentation, label smoothing, L2, class weights, cosine LR, precise BN. */
const everything: HyperparametersInput = {
  imageSize: 16,
  convBlocks: 2,
  baseFilters: 4,
  convBatchNorm: true,
  convDropout: 0.2,
  pooling: 'gap',
  denseUnits: 16,
  dense2Units: 8,
  denseDropout: 0.2,
  bnMomentum: 0.9,
  preciseBn: true,
  learningRate: 0.01,
  lrSchedule: 'cosine',
  scheduleEpochs: 3,
  batchSize: 8,
  weightDecay: 1e-3,
  labelSmoothing: 0.1,
  classWeighting: 'balanced',
  augmentation: { flip: true, rotation: 10, zoom: 0.1, contrast: 0.2 },
};

function maxWeightDiff(a: tf.Tensor[], b: tf.Tensor[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((t, i) => tf.max(tf.abs(tf.sub(t, b[i] as tf.Tensor))).dataSync()[0] as number));
}

describe('train', () => {
  it('resumed at epoch 1 and trained to 3 equals training 0 → 3 in one go; no tensor leaks', async () => {
    const bundle = syntheticBundle({ perClass: 10 });
    for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
      const hparams = resolveHyperparameters({ ...everything, optimizer });
      const tensorsAfterEpoch: number[] = [];
      const oneGo = await train({
        bundle,
        hparams,
        toEpoch: 3,
        seed: 5,
        checkpointDir: join(dir, `one-${optimizer}`),
        onEpoch: () => void tensorsAfterEpoch.push(tf.memory().numTensors),
      });
      expect(
        new Set(tensorsAfterEpoch).size,
        `tensors after each epoch: ${tensorsAfterEpoch.join(', ')}`,
      ).toBe(1);
      const split = join(dir, `split-${optimizer}`);
      const first = await train({ bundle, hparams, toEpoch: 1, seed: 5, checkpointDir: split });
      first.model.dispose();
      const rest = await train({ bundle, hparams, fromEpoch: 1, toEpoch: 3, seed: 5, checkpointDir: split });
      expect(rest.epochsDone).toBe(3);
      expect(rest.history.map((h) => h.epoch)).toEqual([2, 3]);
      expect(maxWeightDiff(rest.model.getWeights(), oneGo.model.getWeights())).toBeLessThan(1e-4);
      expect(rest.history[1]?.loss).toBeCloseTo(oneGo.history[2]?.loss ?? NaN, 4);
      expect(rest.evaluation?.confusionMatrix).toEqual(oneGo.evaluation?.confusionMatrix);
      oneGo.model.dispose();
      rest.model.dispose();
    }
  });

  it('resumes exactly with every acquisition-shift augmentation on', async () => {
    const bundle = syntheticBundle({ perClass: 10 });
    const hparams = resolveHyperparameters({
      ...everything,
      augmentation: {
        ...everything.augmentation,
        verticalFlip: true,
        gamma: 0.5,
        brightness: 0.1,
        curve: 0.5,
        blur: 1,
        sharpen: 1,
        noise: 0.05,
        cropScale: 0.5,
        cropRatio: 4 / 3,
      },
    });
    const oneGo = await train({ bundle, hparams, toEpoch: 2, seed: 5, checkpointDir: join(dir, 'aug-one') });
    const split = join(dir, 'aug-split');
    (await train({ bundle, hparams, toEpoch: 1, seed: 5, checkpointDir: split })).model.dispose();
    const rest = await train({ bundle, hparams, fromEpoch: 1, toEpoch: 2, seed: 5, checkpointDir: split });
    expect(maxWeightDiff(rest.model.getWeights(), oneGo.model.getWeights())).toBeLessThan(1e-4);
    expect(rest.history[0]?.loss).toBeCloseTo(oneGo.history[1]?.loss ?? NaN, 4);
    oneGo.model.dispose();
    rest.model.dispose();
  });

  it('learns the synthetic task, reports complete epoch metrics, and val accuracy tracks training with conv BN + precise BN', async () => {
    const bundle = syntheticBundle({ perClass: 16 });
    // bnMomentum 0.99 is the setting whose moving statistics lagged in the DESIGN probes.
    const hparams = resolveHyperparameters({
      ...everything,
      augmentation: {},
      baseFilters: 8,
      convDropout: 0,
      denseDropout: 0,
      dense2Units: 0,
      bnMomentum: 0.99,
      lrSchedule: 'constant',
      learningRate: 0.01,
    });
    const result = await train({ bundle, hparams, toEpoch: 8, seed: 1 });
    for (const epoch of result.history.slice(1))
      expect(epoch.valAccuracy, `epoch ${epoch.epoch}`).toBeGreaterThanOrEqual(epoch.accuracy - 0.1);
    expect(result.outcome).toBe('completed');
    const last = result.history[result.history.length - 1];
    expect(last).toBeDefined();
    if (!last) return;
    expect(Object.keys(last.valRecall)).toEqual(bundle.classes);
    expect(last.trainImagesPerSecond).toBeGreaterThan(0);
    expect(last.accuracy).toBeGreaterThan(0.9);
    expect(last.valAccuracy).toBeGreaterThan(0.9);
    expect(last.valMacroF1).toBeGreaterThan(0.9);
    expect(result.evaluation?.report.accuracy).toBe(last.valAccuracy);
    result.model.dispose();
  });

  it('precise BN sets the moving statistics to the statistics of the data', async () => {
    const bundle = syntheticBundle({ perClass: 8 });
    const model = await buildModel(resolveHyperparameters({ ...everything, convBlocks: 2 }), {
      imageSize: 16,
      numClasses: 4,
    });
    const sample = bundle.split.train;
    recalibrateBatchNorm(model, bundle, sample);
    const bn = model.getLayer('block1_bn1');
    const conv = model.getLayer('block1_conv1');
    const features = conv.apply(imagesTensor(bundle, sample)) as tf.Tensor;
    const { mean, variance } = tf.moments(features, [0, 1, 2]);
    const [, , movingMean, movingVariance] = bn.getWeights() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    expect(maxWeightDiff([movingMean, movingVariance], [mean, variance])).toBeLessThan(1e-4);
    model.dispose();
  });

  it('precise BN re-estimates on transformed batches when given a transform (augmented training)', async () => {
    const bundle = syntheticBundle({ perClass: 8 });
    const model = await buildModel(resolveHyperparameters({ ...everything, convBlocks: 2 }), {
      imageSize: 16,
      numClasses: 4,
    });
    const sample = bundle.split.train;
    const inverted = (x: tf.Tensor4D): tf.Tensor4D => tf.sub(1, x);
    recalibrateBatchNorm(model, bundle, sample, inverted);
    const bn = model.getLayer('block1_bn1');
    const conv = model.getLayer('block1_conv1');
    const features = tf.tidy(() => conv.apply(tf.sub(1, imagesTensor(bundle, sample))) as tf.Tensor);
    const { mean, variance } = tf.moments(features, [0, 1, 2]);
    const [, , movingMean, movingVariance] = bn.getWeights() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    expect(maxWeightDiff([movingMean, movingVariance], [mean, variance])).toBeLessThan(1e-4);
    recalibrateBatchNorm(model, bundle, sample);
    const [, , cleanMean] = bn.getWeights() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    expect(maxWeightDiff([cleanMean], [mean])).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('stops with outcome "diverged" when the loss becomes NaN or infinite', async () => {
    // The schema caps learningRate at 1; a direct caller can still pass an absurd one, which overflows float32.
    const hparams: Hyperparameters = {
      ...resolveHyperparameters({ imageSize: 16, optimizer: 'sgd', denseBatchNorm: false, convDropout: 0 }),
      learningRate: 1e30,
    };
    const epochs: number[] = [];
    const result = await train({
      bundle: syntheticBundle(),
      hparams,
      toEpoch: 3,
      seed: 1,
      checkpointDir: join(dir, 'diverged'),
      onEpoch: (m) => void epochs.push(m.epoch),
    });
    expect(result.outcome).toBe('diverged');
    expect(result.evaluation).toBeNull();
    expect(result.epochsDone).toBe(0);
    expect(epochs).toEqual([]);
    result.model.dispose();
  });

  it('frees everything it allocated (model and optimizer state) when the model is disposed', async () => {
    const bundle = syntheticBundle({ perClass: 4 });
    const hparams = resolveHyperparameters({ ...everything, scheduleEpochs: 1 });
    (await train({ bundle, hparams, toEpoch: 1, seed: 1 })).model.dispose(); // warm-up: backend caches
    const before = tf.memory().numTensors;
    const result = await train({ bundle, hparams, toEpoch: 1, seed: 1, checkpointDir: join(dir, 'free') });
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    result.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops with outcome "cancelled" when asked', async () => {
    let calls = 0;
    const result = await train({
      bundle: syntheticBundle(),
      hparams: resolveHyperparameters({ imageSize: 16 }),
      toEpoch: 5,
      seed: 1,
      shouldStop: () => ++calls > 1,
    });
    expect(result.outcome).toBe('cancelled');
    expect(result.epochsDone).toBe(1);
    expect(result.evaluation).not.toBeNull();
    result.model.dispose();
  });

  it('weights classes as scikit-learn\'s "balanced", and the weighting changes training', async () => {
    const bundle = syntheticBundle({ perClass: [24, 8], classes: 2, valFraction: 0.25 });
    // train split: 18 and 6 images → n/(k·n_c) = 24/36 and 24/12.
    expect(balancedClassWeights(bundle)).toEqual([24 / 36, 2]);
    const run = async (classWeighting: 'none' | 'balanced'): Promise<number> => {
      const r = await train({
        bundle,
        hparams: resolveHyperparameters({ imageSize: 16, classWeighting }),
        toEpoch: 1,
        seed: 3,
      });
      r.model.dispose();
      return r.history[0]?.loss ?? NaN;
    };
    expect(await run('balanced')).not.toBeCloseTo(await run('none'), 5);
  });

  it('makes every training-time tunable take effect', async () => {
    const bundle = syntheticBundle({ perClass: [8, 4, 6, 6] });
    const base: HyperparametersInput = {
      imageSize: 16,
      convBlocks: 2,
      baseFilters: 4,
      convBatchNorm: true,
      denseUnits: 8,
      dense2Units: 0,
      batchSize: 8,
      augmentation: {},
    };
    const fingerprint = async (overrides: HyperparametersInput): Promise<string> => {
      const r = await train({
        bundle,
        hparams: resolveHyperparameters({ ...base, ...overrides }),
        toEpoch: 2,
        seed: 2,
      });
      const w = r.model.getWeights().map((t) => Array.from(t.dataSync()).slice(0, 8));
      r.model.dispose();
      return JSON.stringify(w);
    };
    const reference = await fingerprint({});
    const changes: HyperparametersInput[] = [
      { learningRate: 0.01 },
      { optimizer: 'sgd' },
      { optimizer: 'sgd', momentum: 0.5 },
      { lrSchedule: 'cosine' },
      { lrSchedule: 'cosine', scheduleEpochs: 1 },
      { batchSize: 4 },
      { labelSmoothing: 0.2 },
      { weightDecay: 0.01 },
      { classWeighting: 'balanced' },
      { preciseBn: true },
      { augmentation: { flip: true } },
      { augmentation: { rotation: 20 } },
      { augmentation: { zoom: 0.2 } },
      { augmentation: { contrast: 0.5 } },
      { augmentation: { gamma: 0.5 } },
      { augmentation: { curve: 1 } },
      { augmentation: { noise: 0.1 } },
      { augmentation: { cropScale: 0.5 } },
    ];
    const sgd = await fingerprint({ optimizer: 'sgd' });
    const cosine = await fingerprint({ lrSchedule: 'cosine' });
    for (const change of changes) {
      const against =
        change.momentum !== undefined ? sgd : change.scheduleEpochs !== undefined ? cosine : reference;
      expect(await fingerprint(change), JSON.stringify(change)).not.toBe(against);
    }
  });

  it('rejects a bundle whose image size differs from the hyperparameters', async () => {
    await expect(
      train({
        bundle: syntheticBundle({ imageSize: 16 }),
        hparams: resolveHyperparameters({ imageSize: 32 }),
        toEpoch: 1,
        seed: 1,
      }),
    ).rejects.toThrow(/16 px but imageSize is 32/);
  });
});

describe('augmentBatch', () => {
  it('is a pure function of the RNG state, and a flip mirrors the image', () => {
    const bundle = syntheticBundle({ perClass: 2 });
    const x = imagesTensor(bundle, [0, 1, 2, 3]);
    const aug = { flip: true, rotation: 15, zoom: 0.2, contrast: 0.3 };
    const a = augmentBatch(x, aug, Rng.fromState(42));
    const b = augmentBatch(x, aug, Rng.fromState(42));
    const c = augmentBatch(x, aug, Rng.fromState(43));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    expect(a.shape).toEqual(x.shape);
    // With only flips, every image is either unchanged or mirrored left ↔ right.
    const flipped = augmentBatch(x, { flip: true, rotation: 0, zoom: 0, contrast: 0 }, new Rng(1));
    const mirrored = tf.reverse(x, 2);
    for (let i = 0; i < 4; i++) {
      const out = tf.slice(flipped, [i], [1]);
      const same = tf.max(tf.abs(tf.sub(out, tf.slice(x, [i], [1])))).dataSync()[0];
      const mirror = tf.max(tf.abs(tf.sub(out, tf.slice(mirrored, [i], [1])))).dataSync()[0];
      expect(Math.min(same ?? 1, mirror ?? 1)).toBe(0);
    }
  });
});
