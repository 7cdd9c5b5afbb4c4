import * as tf from '@tensorflow/tfjs-core';
import type { Augmentation } from '@braintune/protocol';
import type { Rng } from '../training/rng.js';

/** True when the augmentation changes anything (lets the training loop skip it entirely). */
export function isAugmenting(aug: Augmentation): boolean {
  return aug.flip || aug.rotation > 0 || aug.zoom > 0 || aug.contrast > 0;
}

/**
 * Random flip, rotation, zoom and contrast of a batch [B, H, W, C] with pixels in [0, 1],
 * as tf ops on the whole batch. Every random number comes from `rng` (drawn in a fixed
 * order), so the augmented batch is a pure function of the RNG state: resumable.
 * Rotation and zoom are one projective transform per image (bilinear, black fill: the MRI
 * background is black).
 */
export function augmentBatch(images: tf.Tensor4D, aug: Augmentation, rng: Rng): tf.Tensor4D {
  if (!isAugmenting(aug)) return images.clone();
  const [batch, height, width] = images.shape;
  const flips: number[] = [];
  const transforms: number[] = [];
  const contrasts: number[] = [];
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  for (let i = 0; i < batch; i++) {
    flips.push(aug.flip && rng.next() < 0.5 ? 1 : 0);
    const angle = aug.rotation > 0 ? (rng.uniform(-aug.rotation, aug.rotation) * Math.PI) / 180 : 0;
    const scale = aug.zoom > 0 ? rng.uniform(1 - aug.zoom, 1 + aug.zoom) : 1;
    contrasts.push(aug.contrast > 0 ? rng.uniform(1 - aug.contrast, 1 + aug.contrast) : 1);
    // Output pixel p samples input M·(p − c) + c, M = rotation(angle) / scale.
    const cos = Math.cos(angle) / scale;
    const sin = Math.sin(angle) / scale;
    transforms.push(cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0, 0);
  }
  return tf.tidy(() => {
    let x: tf.Tensor4D = images;
    if (aug.flip) {
      const mask = tf.cast(tf.tensor4d(flips, [batch, 1, 1, 1]), 'bool');
      x = tf.where(tf.broadcastTo(mask, x.shape), tf.reverse(x, 2), x) as tf.Tensor4D;
    }
    if (aug.rotation > 0 || aug.zoom > 0) {
      x = tf.image.transform(x, tf.tensor2d(transforms, [batch, 8]), 'bilinear', 'constant', 0);
    }
    if (aug.contrast > 0) {
      const factor = tf.tensor4d(contrasts, [batch, 1, 1, 1]);
      const mean = tf.mean(x, [1, 2, 3], true);
      x = tf.clipByValue(tf.add(tf.mul(tf.sub(x, mean), factor), mean), 0, 1) as tf.Tensor4D;
    }
    return x;
  });
}
