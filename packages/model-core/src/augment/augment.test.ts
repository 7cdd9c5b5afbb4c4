import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AugmentationSchema, resolveHyperparameters, type AugmentationInput } from '@braintune/protocol';
import { initBackend } from '../backend/index.js';
import { Rng } from '../training/rng.js';
import { augmentBatch, isAugmenting } from './augment.js';
import { gaussianNoise } from './filters.js';
import { bezierCurveTable, intensityTable } from './intensity.js';

beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  await initBackend({ backend: 'wasm' });
});

const SIZE = 16;

/** A horizontal ramp of 8-bit levels, every image the same: [batch, SIZE, SIZE, 1]. */
function ramp(batch: number): tf.Tensor4D {
  const values: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) values.push(Math.round((x / (SIZE - 1)) * 255) / 255);
  return tf.tensor4d(values, [batch, SIZE, SIZE, 1]);
}

/** A checkerboard (the highest spatial frequency) of 0.25 / 0.75. */
function checkerboard(batch: number): tf.Tensor4D {
  const values: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) values.push((x + y) % 2 === 0 ? 0.25 : 0.75);
  return tf.tensor4d(values, [batch, SIZE, SIZE, 1]);
}

/** Mean squared difference between horizontal neighbours of the interior (high-frequency energy). */
function highFrequencyEnergy(x: tf.Tensor4D): number {
  return tf.tidy(() => {
    const inner = tf.slice(x, [0, 2, 2, 0], [-1, SIZE - 4, SIZE - 4, -1]);
    const diff = tf.sub(
      tf.slice(inner, [0, 0, 1, 0], [-1, -1, -1, -1]),
      tf.slice(inner, [0, 0, 0, 0], [-1, -1, SIZE - 5, -1]),
    );
    return tf.mean(tf.square(diff)).dataSync()[0] as number;
  });
}

function run(x: tf.Tensor4D, aug: AugmentationInput, seed = 1): Float32Array {
  const out = augmentBatch(x, aug, new Rng(seed));
  const values = out.dataSync() as Float32Array;
  out.dispose();
  return values;
}

describe('augmentation schema', () => {
  it('defaults every new field to off, so old hyperparameters mean what they meant', () => {
    const old = { flip: false, rotation: 0, zoom: 0, contrast: 0 };
    expect(isAugmenting(old)).toBe(false);
    expect(resolveHyperparameters({}).augmentation).toEqual(AugmentationSchema.parse(old));
    expect(AugmentationSchema.safeParse({ gamma: 3 }).success).toBe(false);
    expect(AugmentationSchema.safeParse({ cropScale: 0.01 }).success).toBe(false);
  });
});

describe('augmentBatch: acquisition-shift transforms', () => {
  it('gamma bends a ramp: γ < 1 brightens mid-greys, γ > 1 darkens them, the ends stay put', () => {
    const table = intensityTable({ gamma: 0.5, brightness: 0, curve: null });
    expect(table[0]).toBe(0);
    expect(table[255]).toBe(1);
    expect(table[64]).toBeCloseTo(Math.sqrt(64 / 255), 6);
    const x = ramp(16);
    const out = run(x, { gamma: 1 });
    const input = x.dataSync();
    let brighter = 0;
    let darker = 0;
    for (let b = 0; b < 16; b++) {
      const mid = b * SIZE * SIZE + 8 * SIZE + 7;
      if ((out[mid] as number) > (input[mid] as number) + 1e-3) brighter++;
      if ((out[mid] as number) < (input[mid] as number) - 1e-3) darker++;
      expect(out[b * SIZE * SIZE]).toBe(0);
      expect(out[b * SIZE * SIZE + SIZE - 1]).toBeCloseTo(1, 6);
    }
    expect(brighter).toBeGreaterThan(0);
    expect(darker).toBeGreaterThan(0);
    x.dispose();
  });

  it('brightness shifts every non-clipped pixel of an image by one offset', () => {
    const x = tf.fill([4, SIZE, SIZE, 1], 0.5) as tf.Tensor4D;
    const out = run(x, { brightness: 0.2 });
    for (let b = 0; b < 4; b++) {
      const image = out.subarray(b * SIZE * SIZE, (b + 1) * SIZE * SIZE);
      expect(Math.max(...image) - Math.min(...image)).toBeLessThan(1e-6);
      expect(Math.abs((image[0] as number) - 0.5)).toBeLessThanOrEqual(0.2 + 1 / 255);
    }
    x.dispose();
  });

  it('random curves stay in [0, 1], keep black black, and half of them may be non-monotonic', () => {
    const rng = new Rng(3);
    let nonMonotonic = 0;
    for (let i = 0; i < 200; i++) {
      const monotonic = i % 2 === 0;
      const table = bezierCurveTable({
        p1: [rng.next(), rng.next()],
        p2: [rng.next(), rng.next()],
        monotonic,
      });
      expect(table[0]).toBeCloseTo(0, 6);
      expect(Math.min(...table)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...table)).toBeLessThanOrEqual(1);
      const decreasing = table.some((v, k) => k > 0 && v < (table[k - 1] as number) - 1e-6);
      if (monotonic) expect(decreasing).toBe(false);
      else if (decreasing) nonMonotonic++;
    }
    expect(nonMonotonic).toBeGreaterThan(0);
    const x = ramp(8);
    const out = run(x, { curve: 1 });
    expect(Math.min(...out)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...out)).toBeLessThanOrEqual(1);
    expect(Array.from(out)).not.toEqual(Array.from(x.dataSync()));
    x.dispose();
  });

  it('blur lowers and sharpening raises high-frequency energy', () => {
    const x = checkerboard(4);
    const before = highFrequencyEnergy(x);
    const blurred = augmentBatch(x, { blur: 1 }, new Rng(1));
    const sharpened = augmentBatch(x, { sharpen: 2 }, new Rng(1));
    expect(highFrequencyEnergy(blurred)).toBeLessThan(before * 0.9);
    expect(highFrequencyEnergy(sharpened)).toBeGreaterThan(before * 1.1);
    tf.dispose([x, blurred, sharpened]);
  });

  it('noise has the drawn standard deviation, and the normal stream is standard', () => {
    const normals = gaussianNoise(100_000, 7);
    const mean = normals.reduce((a, b) => a + b, 0) / normals.length;
    const variance = normals.reduce((a, b) => a + (b - mean) ** 2, 0) / normals.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.sqrt(variance)).toBeCloseTo(1, 1);
    // Mid-grey never clips at std ≤ 0.05, so the per-image std is the drawn one, in [0, 0.05].
    const x = tf.fill([8, 32, 32, 1], 0.5) as tf.Tensor4D;
    const out = augmentBatch(x, { noise: 0.05 }, new Rng(2));
    const { variance: v } = tf.moments(out, [1, 2, 3]);
    const stds = Array.from(v.dataSync()).map(Math.sqrt);
    for (const s of stds) expect(s).toBeLessThanOrEqual(0.05 * 1.1);
    expect(Math.max(...stds)).toBeGreaterThan(0.01);
    tf.dispose([x, out, v]);
  });

  it('random resized crop keeps the output size and zooms in (a ramp spreads over more pixels: flatter)', () => {
    const x = ramp(8);
    const out = augmentBatch(x, { cropScale: 0.3, cropRatio: 4 / 3 }, new Rng(5));
    expect(out.shape).toEqual(x.shape);
    const values = out.dataSync();
    let flatter = 0;
    for (let b = 0; b < 8; b++) {
      const row = b * SIZE * SIZE + 8 * SIZE;
      const slope = ((values[row + 9] as number) - (values[row + 6] as number)) / 3;
      if (slope < (1 / (SIZE - 1)) * 0.85) flatter++;
    }
    expect(flatter).toBeGreaterThan(4);
    tf.dispose([x, out]);
  });

  it('vertical flip mirrors top ↔ bottom', () => {
    const x = tf.transpose(ramp(4), [0, 2, 1, 3]) as tf.Tensor4D;
    const out = augmentBatch(x, { verticalFlip: true }, new Rng(1));
    const mirrored = tf.reverse(x, 1);
    let flipped = 0;
    for (let i = 0; i < 4; i++) {
      const o = tf.slice(out, [i], [1]);
      const same = tf.max(tf.abs(tf.sub(o, tf.slice(x, [i], [1])))).dataSync()[0] as number;
      const mirror = tf.max(tf.abs(tf.sub(o, tf.slice(mirrored, [i], [1])))).dataSync()[0] as number;
      expect(Math.min(same, mirror)).toBe(0);
      if (mirror === 0) flipped++;
    }
    expect(flipped).toBeGreaterThan(0);
    tf.dispose([x, out, mirrored]);
  });

  it('invert swaps grey levels inside the head (dark fluid turns bright), keeps the background black', () => {
    // A disk of tissue (0.8) with a dark "ventricle" (0.1) in the middle, on black.
    const values: number[] = [];
    for (let b = 0; b < 2; b++)
      for (let y = 0; y < SIZE; y++)
        for (let x = 0; x < SIZE; x++) {
          const r = Math.hypot(x - 7.5, y - 7.5);
          values.push(r < 2 ? 0.1 : r < 6.5 ? 0.8 : 0);
        }
    const x = tf.tensor4d(values, [2, SIZE, SIZE, 1]);
    const out = run(x, { invert: 1 });
    const at = (image: number, px: number, py: number): number =>
      out[image * SIZE * SIZE + py * SIZE + px] as number;
    for (const image of [0, 1]) {
      expect(at(image, 0, 0)).toBe(0);
      expect(at(image, 8, 8)).toBeCloseTo(0.9, 2);
      expect(at(image, 8, 12)).toBeCloseTo(0.2, 2);
    }
    expect(Array.from(run(x, { invert: 0.5 }, 3))).not.toEqual(Array.from(run(x, { invert: 0.5 }, 4)));
    x.dispose();
  });

  it('everything at once: same seed → same batch, other seed → other batch, in [0, 1], no tensor leak', () => {
    const aug: AugmentationInput = {
      flip: true,
      rotation: 15,
      zoom: 0.1,
      contrast: 0.3,
      verticalFlip: true,
      gamma: 0.6,
      brightness: 0.1,
      curve: 0.5,
      blur: 1,
      sharpen: 1,
      noise: 0.05,
      cropScale: 0.5,
      cropRatio: 4 / 3,
      invert: 0.5,
    };
    const x = ramp(6);
    const before = tf.memory().numTensors;
    const a = run(x, aug, 42);
    const b = run(x, aug, 42);
    const c = run(x, aug, 43);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    x.dispose();
  });

  it('with the new fields off, draws the same stream and produces the same batch as before', () => {
    const x = ramp(4);
    const old = { flip: true, rotation: 10, zoom: 0.1, contrast: 0.2 };
    const r1 = new Rng(9);
    const r2 = new Rng(9);
    const a = augmentBatch(x, old, r1);
    const b = augmentBatch(x, { ...old, gamma: 0, noise: 0, cropScale: 1, invert: 0 }, r2);
    expect(r1.getState()).toBe(r2.getState());
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([x, a, b]);
  });
});
