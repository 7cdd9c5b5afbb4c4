/**
 * `npm run bench:augment`: CPU cost of augmentBatch per batch (each transform alone, the
 * `best` preset's augmentation, everything on) against one training step of the `best`
 * preset without augmentation, at the same batch and image size. Process CPU time, so
 * neighbours on a shared machine do not count. Last stdout line: one JSON object.
 * Options: --image-size 64  --batch 32  --reps 40
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentationInput } from '@braintune/protocol';
import {
  augmentBatch,
  initBackend,
  presetHyperparameters,
  Rng,
  train,
} from '../packages/model-core/src/index.js';
import { imagesTensor } from '../packages/model-core/src/training/batches.js';
import { syntheticBundle } from '../packages/model-core/src/training/synthetic-bundle.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

process.env.LOG_LEVEL ??= 'warn';
const backend = await initBackend();
const imageSize = arg('image-size', 64);
const batchSize = arg('batch', 32);
const reps = arg('reps', 40);
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

/** One training step of `best` (no augmentation), measured over epoch 2 as bench:train does. */
async function trainingStepMs(): Promise<number> {
  const bundle = syntheticBundle({ imageSize, perClass: Math.ceil((batchSize * 8) / 4), valFraction: 0.1 });
  const hparams = presetHyperparameters('best', {
    imageSize,
    batchSize,
    augmentation: { flip: false, rotation: 0, zoom: 0, contrast: 0 },
  });
  let mark = process.cpuUsage();
  let perStep = 0;
  const run = await train({
    bundle,
    hparams,
    toEpoch: 2,
    seed: 1,
    onBatch: ({ epoch, batch, batches }) => {
      if (epoch !== 2) return;
      if (batch === 1) mark = process.cpuUsage();
      else if (batch === batches) perStep = cpuMs(mark) / (batches - 1);
    },
  });
  run.model.dispose();
  return perStep;
}

const settings: Record<string, AugmentationInput> = {
  bestPreset: presetHyperparameters('best').augmentation,
  gamma: { gamma: 0.5 },
  brightness: { brightness: 0.1 },
  curve: { curve: 1 },
  blurSharpen: { blur: 1, sharpen: 1 },
  noise: { noise: 0.05 },
  resizedCrop: { cropScale: 0.5, cropRatio: 4 / 3 },
  verticalFlip: { verticalFlip: true },
  everything: {
    flip: true,
    rotation: 15,
    zoom: 0.1,
    contrast: 0.3,
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
};

const bundle = syntheticBundle({ imageSize, perClass: Math.ceil(batchSize / 4) });
const images = imagesTensor(
  bundle,
  [...Array(batchSize).keys()].map((i) => i % bundle.labels.length),
);
const perBatchMs: Record<string, number> = {};
for (const [name, aug] of Object.entries(settings)) {
  const rng = new Rng(1);
  augmentBatch(images, aug, rng).dispose();
  const mark = process.cpuUsage();
  for (let r = 0; r < reps; r++) {
    const out = augmentBatch(images, aug, rng);
    out.dataSync();
    out.dispose();
  }
  perBatchMs[name] = +(cpuMs(mark) / reps).toFixed(2);
  console.error(JSON.stringify({ setting: name, msPerBatch: perBatchMs[name] }));
}
images.dispose();
const stepMs = await trainingStepMs();
console.log(
  JSON.stringify({
    bench: 'augment',
    backend: backend.name,
    imageSize,
    batchSize,
    clock: 'process CPU time',
    trainingStepMs: +stepMs.toFixed(1),
    augmentMsPerBatch: perBatchMs,
    everythingShareOfStep: +((perBatchMs.everything ?? 0) / stepMs).toFixed(3),
    tensors: tf.memory().numTensors,
  }),
);
