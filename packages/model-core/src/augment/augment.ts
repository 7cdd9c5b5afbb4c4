import * as tf from '@tensorflow/tfjs-core';
import { AugmentationSchema, type Augmentation, type AugmentationInput } from '@braintune/protocol';
import type { Rng } from '../training/rng.js';
import { addNoise, blurOrSharpen } from './filters.js';
import { invertInsideHead } from '../dataset/head-crop.js';
import { drawCrop, transformRow, type CropDraw } from './geometry.js';
import { applyIntensityTables, intensityTable, type CurveDraw } from './intensity.js';

/** True when the augmentation changes anything (lets the training loop skip it entirely). */
export function isAugmenting(input: AugmentationInput): boolean {
  const aug = AugmentationSchema.parse(input);
  return aug.flip || aug.rotation > 0 || aug.zoom > 0 || aug.contrast > 0 || isShifting(aug);
}

/** True when one of the acquisition-shift transforms (everything after `contrast` in the schema) is on. */
function isShifting(aug: Augmentation): boolean {
  return (
    aug.verticalFlip ||
    hasIntensity(aug) ||
    aug.invert > 0 ||
    hasCrop(aug) ||
    aug.blur > 0 ||
    aug.sharpen > 0 ||
    aug.noise > 0
  );
}

/**
 * Augmentations that change intensities beyond the historic ±contrast: they move batch-norm
 * statistics most, so precise BN re-estimates them on augmented batches when one is on.
 */
export function shiftsIntensities(aug: Augmentation): boolean {
  return hasIntensity(aug) || aug.invert > 0 || aug.noise > 0 || aug.blur > 0 || aug.sharpen > 0;
}

const hasIntensity = (aug: Augmentation): boolean => aug.gamma > 0 || aug.brightness > 0 || aug.curve > 0;
const hasCrop = (aug: Augmentation): boolean => aug.cropScale < 1 || aug.cropRatio > 1;

/** Every random number of one image, in draw order. */
interface ImageDraw {
  flip: boolean;
  transform: number[];
  contrast: number;
  verticalFlip: boolean;
  gamma: number;
  brightness: number;
  curve: CurveDraw | null;
  blurWeight: number;
  noiseStd: number;
  invert: boolean;
}

function drawCurve(rng: Rng, probability: number): CurveDraw | null {
  if (!(probability > 0) || rng.next() >= probability) return null;
  return { p1: [rng.next(), rng.next()], p2: [rng.next(), rng.next()], monotonic: rng.next() < 0.5 };
}

/**
 * The draws of one image. The first four (flip, rotation, zoom, contrast) are those of the
 * original augmentation, in its order, so with every newer field off the stream, and hence
 * every resumed or old run, is unchanged; each newer field draws only when it is on.
 */
function drawImage(rng: Rng, aug: Augmentation, width: number, height: number): ImageDraw {
  const flip = aug.flip && rng.next() < 0.5;
  const angle = aug.rotation > 0 ? (rng.uniform(-aug.rotation, aug.rotation) * Math.PI) / 180 : 0;
  const scale = aug.zoom > 0 ? rng.uniform(1 - aug.zoom, 1 + aug.zoom) : 1;
  const contrast = aug.contrast > 0 ? rng.uniform(1 - aug.contrast, 1 + aug.contrast) : 1;
  const verticalFlip = aug.verticalFlip && rng.next() < 0.5;
  const crop: CropDraw | null = hasCrop(aug) ? drawCrop(rng, aug, width, height) : null;
  const logGamma = Math.log1p(aug.gamma);
  const gamma = aug.gamma > 0 ? Math.exp(rng.uniform(-logGamma, logGamma)) : 1;
  const brightness = aug.brightness > 0 ? rng.uniform(-aug.brightness, aug.brightness) : 0;
  const curve = drawCurve(rng, aug.curve);
  const blurWeight = aug.blur > 0 || aug.sharpen > 0 ? rng.uniform(-aug.sharpen, aug.blur) : 0;
  const noiseStd = aug.noise > 0 ? rng.uniform(0, aug.noise) : 0;
  const invert = aug.invert > 0 && rng.next() < aug.invert;
  return {
    flip,
    transform: transformRow(angle, scale, crop, width, height),
    contrast,
    verticalFlip,
    gamma,
    brightness,
    curve,
    blurWeight,
    noiseStd,
    invert,
  };
}

/**
 * The JavaScript pass over a batch's pixels: sequence swaps (inversion inside the head, which
 * needs the image's own grey levels to find the head), then the intensity tables.
 */
function pointwise(x: tf.Tensor4D, draws: readonly ImageDraw[], aug: Augmentation): Float32Array {
  const [batch, height, width, channels] = x.shape;
  let pixels = x.dataSync() as Float32Array;
  const perImage = x.size / batch;
  if (draws.some((d) => d.invert)) {
    pixels = Float32Array.from(pixels);
    const levels = new Uint8Array(perImage);
    draws.forEach((d, i) => {
      if (!d.invert) return;
      const image = pixels.subarray(i * perImage, (i + 1) * perImage);
      for (let p = 0; p < perImage; p++) levels[p] = Math.round((image[p] as number) * 255);
      invertInsideHead(levels, width, height, channels);
      for (let p = 0; p < perImage; p++) image[p] = (levels[p] as number) / 255;
    });
  }
  if (!hasIntensity(aug)) return pixels;
  return applyIntensityTables(
    pixels,
    perImage,
    draws.map((d) => intensityTable(d)),
  );
}

function flipWhere(x: tf.Tensor4D, flags: readonly boolean[], axis: 1 | 2): tf.Tensor4D {
  const mask = tf.cast(tf.tensor4d(flags.map(Number), [flags.length, 1, 1, 1]), 'bool');
  return tf.where(tf.broadcastTo(mask, x.shape), tf.reverse(x, axis), x) as tf.Tensor4D;
}

/**
 * Random augmentation of a batch [B, H, W, C] with pixels in [0, 1], as tf ops on the whole
 * batch plus one JavaScript pass for the pointwise intensity changes. Every random number comes
 * from `rng` in a fixed order, so the augmented batch is a pure function of the RNG state:
 * resumable. Order: intensity curve → gamma → brightness (one table per image), flips, one
 * projective transform (random resized crop, rotation, zoom; bilinear, black fill: the MRI
 * background is black), contrast, blur/sharpen, noise, clip to [0, 1].
 */
export function augmentBatch(images: tf.Tensor4D, input: AugmentationInput, rng: Rng): tf.Tensor4D {
  const aug = AugmentationSchema.parse(input);
  if (!isAugmenting(aug)) return images.clone();
  const [batch, height, width] = images.shape;
  const draws: ImageDraw[] = [];
  for (let i = 0; i < batch; i++) draws.push(drawImage(rng, aug, width, height));
  const noiseSeed = aug.noise > 0 ? rng.nextUint32() : 0;
  return tf.tidy(() => {
    let x: tf.Tensor4D = images;
    if (hasIntensity(aug) || aug.invert > 0) x = tf.tensor4d(pointwise(x, draws, aug), x.shape);
    if (aug.flip)
      x = flipWhere(
        x,
        draws.map((d) => d.flip),
        2,
      );
    if (aug.verticalFlip)
      x = flipWhere(
        x,
        draws.map((d) => d.verticalFlip),
        1,
      );
    if (aug.rotation > 0 || aug.zoom > 0 || hasCrop(aug)) {
      const rows = draws.flatMap((d) => d.transform);
      x = tf.image.transform(x, tf.tensor2d(rows, [batch, 8]), 'bilinear', 'constant', 0);
    }
    if (aug.contrast > 0) {
      const factor = tf.tensor4d(
        draws.map((d) => d.contrast),
        [batch, 1, 1, 1],
      );
      const mean = tf.mean(x, [1, 2, 3], true);
      x = tf.clipByValue(tf.add(tf.mul(tf.sub(x, mean), factor), mean), 0, 1) as tf.Tensor4D;
    }
    if (aug.blur > 0 || aug.sharpen > 0)
      x = blurOrSharpen(
        x,
        draws.map((d) => d.blurWeight),
      );
    if (aug.noise > 0)
      x = addNoise(
        x,
        draws.map((d) => d.noiseStd),
        noiseSeed,
      );
    // Sharpening and noise leave [0, 1]; the original four transforms never do, and stay unclipped.
    if (isShifting(aug)) x = tf.clipByValue(x, 0, 1) as tf.Tensor4D;
    return x;
  });
}
