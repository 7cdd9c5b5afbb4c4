import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidInputError } from '@braintune/protocol';
import { renderPhantom, type RenderPhantomOptions } from './render.js';

/**
 * Lesion masks of the phantoms, at any output size, with the geometry the renderer drew.
 * Two masks per scan: `core` (the lesion proper: tumour core, meningioma disk, pituitary mass)
 * and `extent` (core plus what the lesion changed around it: oedema, CSF cleft, dural tail,
 * sella ring). Rendering is unchanged: the masks come from the same pass that makes the pixels.
 */
export interface LesionMasks {
  size: number;
  /** Row-major size², 1 inside the lesion core. */
  core: Uint8Array;
  /** Row-major size², 1 inside the lesion's extent (a superset of core). */
  extent: Uint8Array;
}

/** Folder, inside a phantom data set, that holds the masks. Hidden, so ImageFolder scans skip it. */
export const LESION_MASK_DIR = '.lesions';

/** Where `makePhantoms({ masks: true })` writes the mask of `<class>/<imageName>`. */
export function lesionMaskPath(dataDir: string, cls: string, imageName: string): string {
  return path.join(dataDir, LESION_MASK_DIR, cls, imageName.replace(/\.[^.]+$/, '.png'));
}

/**
 * 1-D area weights of an interval resampling from `from` to `to` cells: weight[o][i] is the share
 * of output cell o covered by input cell i (rows sum to 1). Separable, so exact for boxes.
 */
function areaWeights(from: number, to: number): Array<Array<[number, number]>> {
  const scale = from / to;
  const rows: Array<Array<[number, number]>> = [];
  for (let o = 0; o < to; o++) {
    const a = o * scale;
    const b = (o + 1) * scale;
    const row: Array<[number, number]> = [];
    for (let i = Math.floor(a); i < Math.min(from, Math.ceil(b)); i++) {
      const overlap = Math.min(b, i + 1) - Math.max(a, i);
      if (overlap > 1e-9) row.push([i, overlap / scale]);
    }
    rows.push(row);
  }
  return rows;
}

/**
 * Share of each output pixel covered by a binary square mask (`srcSize`² → `outSize`², area
 * averaging): what a box-filtered resize of the mask gives, in 0–1.
 */
export function maskCoverage(mask: Uint8Array, srcSize: number, outSize: number): Float32Array {
  if (mask.length !== srcSize * srcSize)
    throw new InvalidInputError(
      `mask has ${mask.length} pixels, expected ${srcSize}×${srcSize}`,
      'pass a square row-major mask and its side length',
    );
  const w = areaWeights(srcSize, outSize);
  // Rows first (srcSize × outSize), then columns.
  const tmp = new Float32Array(srcSize * outSize);
  for (let y = 0; y < srcSize; y++)
    for (let o = 0; o < outSize; o++) {
      let s = 0;
      for (const [i, wt] of w[o]!) s += mask[y * srcSize + i]! * wt;
      tmp[y * outSize + o] = s;
    }
  const out = new Float32Array(outSize * outSize);
  for (let o = 0; o < outSize; o++)
    for (let x = 0; x < outSize; x++) {
      let s = 0;
      for (const [i, wt] of w[o]!) s += tmp[i * outSize + x]! * wt;
      out[o * outSize + x] = s;
    }
  return out;
}

/** Binary mask at `outSize`: pixels at least half covered, as a resize + 0.5 threshold gives. */
export function resampleMask(mask: Uint8Array, srcSize: number, outSize: number): Uint8Array {
  if (srcSize === outSize) return mask.slice();
  const coverage = maskCoverage(mask, srcSize, outSize);
  return Uint8Array.from(coverage, (c) => (c >= 0.5 ? 1 : 0));
}

/**
 * The lesion masks of one phantom at `outSize` (default: the rendered size). `options` are the
 * ones the image was rendered with; the phantom is square, so every resize mode of the bundle
 * (contain, cover, fill) maps it onto the model input the same way.
 */
export function phantomLesionMasks(options: RenderPhantomOptions, outSize = options.size): LesionMasks {
  const { lesionMask, lesionExtent, size } = renderPhantom(options);
  return {
    size: outSize,
    core: resampleMask(lesionMask, size, outSize),
    extent: resampleMask(lesionExtent, size, outSize),
  };
}

/** Encodes masks as one greyscale PNG: 255 = core, 128 = extent only, 0 = neither. */
export function encodeLesionMasks(masks: LesionMasks): Promise<Buffer> {
  const grey = new Uint8Array(masks.size * masks.size);
  for (let i = 0; i < grey.length; i++) grey[i] = masks.core[i] ? 255 : masks.extent[i] ? 128 : 0;
  return sharp(grey, { raw: { width: masks.size, height: masks.size, channels: 1 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

/**
 * Reads a mask PNG written by `makePhantoms({ masks: true })`, resampled to `outSize` (the model's
 * input size) by area averaging. Returns null when the file does not exist (a no-tumour scan).
 */
export async function readLesionMasks(file: string, outSize: number): Promise<LesionMasks | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const { data, info } = await sharp(bytes).greyscale().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== info.height)
    throw new InvalidInputError(
      `lesion mask ${file} is ${info.width}×${info.height}, not square`,
      'regenerate the phantoms with braintune make-phantoms --masks',
    );
  const core = Uint8Array.from(data, (v) => (v >= 192 ? 1 : 0));
  const extent = Uint8Array.from(data, (v) => (v >= 64 ? 1 : 0));
  return {
    size: outSize,
    core: resampleMask(core, info.width, outSize),
    extent: resampleMask(extent, info.width, outSize),
  };
}
