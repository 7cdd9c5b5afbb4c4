/**
 * `npm run bench:train`: training and inference speed of the seed CNN (and our default
 * preset) at 64 and 128 px on the chosen backend, through the real training loop and the
 * batched evaluation path. A training step costs about three forward passes, so
 * train/inference near 0.33 means the gradients are as fast as the forward pass allows.
 * Synthetic images: speed does not depend on pixel values. Last stdout line: one JSON object.
 * Options: --sizes 64,128  --presets seed,best  --images 1024
 *
 * Both rates are reported in wall time and in process CPU time. The wasm backend runs one
 * thread, so on an idle core the two agree; on a shared machine (CI, colleagues' runs) wall
 * time measures the neighbours, CPU time measures our code, and the ratio uses CPU time.
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
const images = Number(arg('images', '1024'));

/** Seconds of CPU this process used since `since` (user + system). */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}
const results: Record<string, unknown>[] = [];
for (const preset of presets) {
  if (!isPresetName(preset)) throw new Error(`unknown preset ${preset}`);
  for (const imageSize of sizes) {
    const bundle = syntheticBundle({ imageSize, perClass: Math.ceil(images / 4), valFraction: 0.25 });
    const hparams = presetHyperparameters(preset, { imageSize });
    // Epoch 1 warms up (kernel compilation, allocations). Epoch 2 is measured from the end of
    // its first batch to the end of its last, so evaluation and epoch set-up are excluded.
    let cpuMark = process.cpuUsage();
    let wallMark = 0;
    let measured = { images: 0, cpu: 0, wall: 0 };
    const run = await train({
      bundle,
      hparams,
      toEpoch: 2,
      seed: 1,
      onBatch: ({ epoch, batch, batches }) => {
        if (epoch !== 2) return;
        if (batch === 1) {
          cpuMark = process.cpuUsage();
          wallMark = performance.now();
        } else if (batch === batches) {
          const steps = batches - 1;
          measured = {
            images: steps * hparams.batchSize,
            cpu: cpuSeconds(cpuMark),
            wall: (performance.now() - wallMark) / 1000,
          };
        }
      },
    });
    const indices = [...bundle.split.train, ...bundle.split.val];
    predictProbabilities(run.model, bundle, indices);
    const inferCpuMark = process.cpuUsage();
    const inferWallMark = performance.now();
    const rounds = 3;
    for (let r = 0; r < rounds; r++) predictProbabilities(run.model, bundle, indices);
    const inferCpu = cpuSeconds(inferCpuMark);
    const inferWall = (performance.now() - inferWallMark) / 1000;
    const inferred = indices.length * rounds;
    const trainIps = measured.images / measured.cpu;
    const inferIps = inferred / inferCpu;
    run.model.dispose();
    const row = {
      preset,
      imageSize,
      trainImagesPerSecond: +trainIps.toFixed(1),
      inferenceImagesPerSecond: +inferIps.toFixed(1),
      ratio: +(trainIps / inferIps).toFixed(3),
      wall: {
        trainImagesPerSecond: +(measured.images / measured.wall).toFixed(1),
        inferenceImagesPerSecond: +(inferred / inferWall).toFixed(1),
      },
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
    clock: 'process CPU time (wall time in results[].wall)',
    tensors: tf.memory().numTensors,
    results,
    minSeedRatio: seedRatios.length ? Math.min(...seedRatios) : null,
  }),
);
