/**
 * `npm run bench:train`: training and inference speed of the seed CNN (and our default
 * preset) at 64 and 128 px on the chosen backend, through the real training loop and the
 * batched evaluation path. A training step costs about three forward passes, so
 * train/inference near 0.33 means the gradients are as fast as the forward pass allows.
 * Synthetic images: speed does not depend on pixel values. Last stdout line: one JSON object.
 * Options: --sizes 64,128  --presets seed,best  --images 384
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  initBackend,
  presetHyperparameters,
  predictProbabilities,
  train,
  isPresetName,
} from '../packages/model-core/src/index.js';
import { syntheticBundle } from '../packages/model-core/src/training/synthetic-bundle.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

process.env.LOG_LEVEL ??= 'warn';
const backend = await initBackend();
const sizes = arg('sizes', '64,128').split(',').map(Number);
const presets = arg('presets', 'seed,best').split(',');
const images = Number(arg('images', '384'));
const results: Record<string, unknown>[] = [];
for (const preset of presets) {
  if (!isPresetName(preset)) throw new Error(`unknown preset ${preset}`);
  for (const imageSize of sizes) {
    const bundle = syntheticBundle({ imageSize, perClass: Math.ceil(images / 4), valFraction: 0.5 });
    const hparams = presetHyperparameters(preset, { imageSize });
    // Epoch 1 warms up (kernel compilation, allocations); epoch 2 is measured.
    const run = await train({ bundle, hparams, toEpoch: 2, seed: 1 });
    const trainIps = run.history[1]?.trainImagesPerSecond ?? NaN;
    const indices = [...bundle.split.train, ...bundle.split.val];
    predictProbabilities(run.model, bundle, indices);
    const started = performance.now();
    predictProbabilities(run.model, bundle, indices);
    const inferIps = indices.length / ((performance.now() - started) / 1000);
    run.model.dispose();
    const row = {
      preset,
      imageSize,
      trainImagesPerSecond: +trainIps.toFixed(1),
      inferenceImagesPerSecond: +inferIps.toFixed(1),
      ratio: +(trainIps / inferIps).toFixed(3),
    };
    console.error(JSON.stringify(row));
    results.push(row);
  }
}
const seedRatios = results.filter((r) => r.preset === 'seed').map((r) => r.ratio as number);
console.log(
  JSON.stringify({
    bench: 'train',
    backend: backend.name,
    kernels: backend.kernels,
    tensors: tf.memory().numTensors,
    results,
    minSeedRatio: seedRatios.length ? Math.min(...seedRatios) : null,
  }),
);
