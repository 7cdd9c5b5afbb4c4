import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHyperparameters } from '@braintune/protocol';
import { initBackend } from '../backend/index.js';
import { predict } from '../inference/predict.js';
import { predictProbabilities } from '../training/evaluate.js';
import { syntheticBundle } from '../training/synthetic-bundle.js';
import { train } from '../training/train.js';
import { loadCheckpoint, readCheckpointState, saveCheckpoint } from './checkpoint.js';

let dir: string;
beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  await initBackend({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'braintune-ckpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hparams = resolveHyperparameters({
  imageSize: 16,
  convBlocks: 2,
  baseFilters: 4,
  convBatchNorm: true,
  pooling: 'gap',
  denseUnits: 8,
  dense2Units: 0,
  convDropout: 0.1,
});

describe('checkpoints', () => {
  it('keep exactly one complete snapshot, replaced atomically, and ignore debris of a crashed write', async () => {
    const ckpt = join(dir, 'atomic');
    const bundle = syntheticBundle();
    const result = await train({ bundle, hparams, toEpoch: 2, seed: 1, checkpointDir: ckpt });
    expect((await readdir(ckpt)).sort()).toEqual(['epoch-0002', 'latest.json']);
    expect((await readdir(join(ckpt, 'epoch-0002'))).sort()).toEqual([
      'model.json',
      'optimizer.bin',
      'optimizer.json',
      'state.json',
      'weights.bin',
      'weights.json',
    ]);
    const state = await readCheckpointState(ckpt);
    expect(state?.epoch).toBe(2);
    expect(state?.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(state?.classes).toEqual(bundle.classes);
    expect(state?.preprocessing).toEqual(bundle.preprocessing);

    // A writer killed mid-snapshot leaves a temp dir (and maybe a newer, unreferenced epoch dir): readers ignore both.
    await mkdir(join(ckpt, '.tmp-epoch-0003-999-1'));
    await writeFile(join(ckpt, '.tmp-epoch-0003-999-1', 'weights.bin'), 'half');
    await mkdir(join(ckpt, 'epoch-0003'));
    const loaded = await loadCheckpoint(ckpt);
    expect(loaded.state.epoch).toBe(2);
    const a = predictProbabilities(loaded.model, bundle, bundle.split.val);
    const b = predictProbabilities(result.model, bundle, bundle.split.val);
    expect(Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number))))).toBeLessThan(1e-6);

    // A failing write (here: an invalid state) leaves the previous snapshot current and no temp dir behind.
    await expect(
      saveCheckpoint(ckpt, loaded.model, { ...loaded.state, epoch: 4, classes: [] }),
    ).rejects.toThrow();
    expect((await readCheckpointState(ckpt))?.epoch).toBe(2);
    expect((await readdir(ckpt)).filter((e) => e.startsWith('.tmp-epoch-0004'))).toEqual([]);

    // The next successful write cleans the debris up.
    const more = await train({ bundle, hparams, fromEpoch: 2, toEpoch: 3, seed: 1, checkpointDir: ckpt });
    expect((await readdir(ckpt)).sort()).toEqual(['epoch-0003', 'latest.json']);
    for (const m of [result.model, loaded.model, more.model]) m.dispose();
  });

  it('refuse to resume with other hyperparameters, and to resume without a checkpoint', async () => {
    const ckpt = join(dir, 'mismatch');
    const first = await train({
      bundle: syntheticBundle(),
      hparams,
      toEpoch: 1,
      seed: 1,
      checkpointDir: ckpt,
    });
    first.model.dispose();
    await expect(
      train({
        bundle: syntheticBundle(),
        hparams: { ...hparams, learningRate: 0.01 },
        fromEpoch: 1,
        toEpoch: 2,
        seed: 1,
        checkpointDir: ckpt,
      }),
    ).rejects.toThrow(/other hyperparameters/);
    await expect(
      train({
        bundle: syntheticBundle(),
        hparams,
        fromEpoch: 1,
        toEpoch: 2,
        seed: 1,
        checkpointDir: join(dir, 'empty'),
      }),
    ).rejects.toThrow(/no checkpoint/);
    await expect(loadCheckpoint(join(dir, 'empty'))).rejects.toThrow(/no checkpoint/);
  });
});

describe('predict', () => {
  it('classifies image files and buffers with the recorded preprocessing, like the model on the bundle', async () => {
    const bundle = syntheticBundle();
    const ckpt = join(dir, 'predict');
    const result = await train({ bundle, hparams, toEpoch: 1, seed: 1, checkpointDir: ckpt });
    const size = bundle.imageSize;
    const indices = bundle.split.val.slice(0, 3);
    // PNGs at the bundle's size: 'fill' + nearest resize to the same size is the identity.
    const files: string[] = [];
    for (const index of indices) {
      const file = join(dir, `scan (${index}).png`);
      await sharp(Buffer.from(bundle.images.subarray(index * size * size, (index + 1) * size * size)), {
        raw: { width: size, height: size, channels: 1 },
      })
        .png()
        .toFile(file);
      files.push(file);
    }
    const expected = predictProbabilities(result.model, bundle, indices);
    const fromFiles = await predict(ckpt, files);
    expect(fromFiles).toHaveLength(3);
    fromFiles.forEach((p, i) => {
      expect(p.classes).toEqual(bundle.classes);
      expect(p.probabilities.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      p.probabilities.forEach((v, c) =>
        expect(v).toBeCloseTo(expected[i * bundle.classes.length + c] as number, 5),
      );
      expect(p.predicted).toBe(bundle.classes[p.probabilities.indexOf(Math.max(...p.probabilities))]);
    });
    const loaded = await loadCheckpoint(ckpt);
    const fromBuffer = await predict(loaded, await sharp(files[0]).toBuffer());
    expect(fromBuffer.probabilities).toEqual(fromFiles[0]?.probabilities);
    await expect(predict(loaded, Buffer.from('not an image'))).rejects.toThrow(/not an image/);
    const before = tf.memory().numTensors;
    await predict(loaded, files);
    expect(tf.memory().numTensors).toBe(before);
    result.model.dispose();
    loaded.model.dispose();
  });
});
