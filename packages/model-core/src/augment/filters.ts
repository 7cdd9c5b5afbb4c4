import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../training/rng.js';

/** Sigma of the blur/sharpen base kernel, in model-input pixels (≈ the blur of bench:robustness at 64 px). */
export const BLUR_SIGMA = 1;
const BLUR_RADIUS = 2;

/** A normalised (2r+1)² Gaussian as a depthwise filter [k, k, channels, 1]. */
export function gaussianKernel(sigma: number, radius: number, channels: number): tf.Tensor4D {
  const size = 2 * radius + 1;
  const weights1d = Array.from({ length: size }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
  );
  const total = weights1d.reduce((a, b) => a + b, 0);
  const values: number[] = [];
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < channels; c++)
        values.push(((weights1d[y] as number) * (weights1d[x] as number)) / total ** 2);
  return tf.tensor4d(values, [size, size, channels, 1]);
}

/**
 * x + w_i·(G_σ * x − x) per image: w_i > 0 moves toward the blurred image, w_i < 0 is an
 * unsharp mask. One depthwise convolution for the whole batch (zero padding: the MRI
 * background is black).
 */
export function blurOrSharpen(x: tf.Tensor4D, weights: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const kernel = gaussianKernel(BLUR_SIGMA, BLUR_RADIUS, x.shape[3]);
    const blurred = tf.depthwiseConv2d(x, kernel, 1, 'same');
    const w = tf.tensor4d(weights as number[], [weights.length, 1, 1, 1]);
    return tf.add(x, tf.mul(w, tf.sub(blurred, x))) as tf.Tensor4D;
  });
}

/** `count` standard normal numbers from a seeded stream (Box–Muller on mulberry32). */
export function gaussianNoise(count: number, seed: number): Float32Array {
  const rng = Rng.fromState(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - rng.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * rng.next();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** Adds per-image Gaussian noise of standard deviation stds[i]. */
export function addNoise(x: tf.Tensor4D, stds: readonly number[], seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const noise = tf.tensor4d(gaussianNoise(x.size, seed), x.shape);
    const std = tf.tensor4d(stds as number[], [stds.length, 1, 1, 1]);
    return tf.add(x, tf.mul(noise, std)) as tf.Tensor4D;
  });
}
