import type { Augmentation } from '@braintune/protocol';
import type { Rng } from '../training/rng.js';

/** A crop window in input pixels: its centre and its size as fractions of the image's width and height. */
export interface CropDraw {
  centerX: number;
  centerY: number;
  widthFraction: number;
  heightFraction: number;
}

/**
 * A random resized crop as torchvision's RandomResizedCrop draws it: area fraction uniform in
 * [cropScale, 1], aspect ratio log-uniform in [1/cropRatio, cropRatio], position uniform. Where
 * torchvision retries a window that does not fit, this clamps it to the image, so every crop
 * takes exactly four draws (a fixed draw order keeps resumed runs identical).
 */
export function drawCrop(rng: Rng, aug: Augmentation, width: number, height: number): CropDraw {
  const area = rng.uniform(aug.cropScale, 1);
  const logRatio = Math.log(aug.cropRatio);
  const ratio = Math.exp(rng.uniform(-logRatio, logRatio));
  const widthFraction = Math.min(1, Math.sqrt(area * ratio));
  const heightFraction = Math.min(1, Math.sqrt(area / ratio));
  const u = rng.next();
  const v = rng.next();
  return {
    centerX: (width - 1) / 2 + (u - 0.5) * width * (1 - widthFraction),
    centerY: (height - 1) / 2 + (v - 0.5) * height * (1 - heightFraction),
    widthFraction,
    heightFraction,
  };
}

/**
 * One row of tf.image.transform: output pixel p samples input c_crop + D·M·(p − c), where
 * M = rotation(angle) / scale and D scales the output onto the crop window (the crop is
 * resized to the full output, then rotated and zoomed). Without a crop this is the original
 * rotation-and-zoom row, bit for bit.
 */
export function transformRow(
  angle: number,
  scale: number,
  crop: CropDraw | null,
  width: number,
  height: number,
): number[] {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const cos = Math.cos(angle) / scale;
  const sin = Math.sin(angle) / scale;
  if (crop === null) return [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0, 0];
  const a0 = crop.widthFraction * cos;
  const a1 = -crop.widthFraction * sin;
  const b0 = crop.heightFraction * sin;
  const b1 = crop.heightFraction * cos;
  return [a0, a1, crop.centerX - a0 * cx - a1 * cy, b0, b1, crop.centerY - b0 * cx - b1 * cy, 0, 0];
}
