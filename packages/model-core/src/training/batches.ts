import * as tf from '@tensorflow/tfjs-core';
import type { DatasetBundle } from '../dataset/types.js';

/** Pixels enter every model as float32 in [0, 1]: training, evaluation and predict share this. */
export const PIXEL_SCALE = 1 / 255;

/** The images at `indices` as a [n, size, size, 1] float tensor in [0, 1]. */
export function imagesTensor(
  bundle: Pick<DatasetBundle, 'images' | 'imageSize'>,
  indices: readonly number[],
): tf.Tensor4D {
  const size = bundle.imageSize;
  const pixels = size * size;
  const out = new Float32Array(indices.length * pixels);
  indices.forEach((index, i) => {
    const src = bundle.images.subarray(index * pixels, (index + 1) * pixels);
    const base = i * pixels;
    for (let p = 0; p < pixels; p++) out[base + p] = (src[p] as number) * PIXEL_SCALE;
  });
  return tf.tensor4d(out, [indices.length, size, size, 1]);
}

/** Raw uint8 images (e.g. from preprocessImage) as one model input batch. */
export function pixelsToTensor(images: readonly Uint8Array[], imageSize: number): tf.Tensor4D {
  const pixels = imageSize * imageSize;
  const out = new Float32Array(images.length * pixels);
  images.forEach((img, i) => {
    if (img.length !== pixels)
      throw new Error(`expected ${pixels} pixels (${imageSize}×${imageSize}), got ${img.length}`);
    for (let p = 0; p < pixels; p++) out[i * pixels + p] = (img[p] as number) * PIXEL_SCALE;
  });
  return tf.tensor4d(out, [images.length, imageSize, imageSize, 1]);
}

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
