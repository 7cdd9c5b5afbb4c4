import sharp from 'sharp';
import type { IntensityStandardisation } from '@braintune/protocol';
import { backgroundLevel } from './head-crop.js';

/** Percentiles the `percentile` method clips the head region to. */
const LOW_PERCENTILE = 0.01;
const HIGH_PERCENTILE = 0.99;
/** Fewer head pixels than this: statistics over the whole image instead. */
const MIN_HEAD_PIXELS = 16;

/**
 * Standardises the intensities of a final `size` × `size` greyscale image so that scanners,
 * sequences and exposure give comparable values. Statistics come from the head region (pixels
 * above the background level), so the share of black background does not change them:
 * - `percentile`: clip to p1–p99 of the head, rescale to 0–255 (the background becomes 0);
 * - `equalize`: histogram equalisation of the head; background pixels become 0;
 * - `clahe`: sharp's contrast-limited adaptive equalisation, tiles of size/8, slope 3.
 */
export async function standardiseIntensity(
  pixels: Uint8Array,
  size: number,
  method: IntensityStandardisation,
): Promise<Uint8Array> {
  switch (method) {
    case 'none':
      return pixels;
    case 'percentile':
      return percentileRescale(pixels);
    case 'equalize':
      return equalizeHead(pixels);
    case 'clahe': {
      const tile = Math.max(2, Math.round(size / 8));
      const data = await sharp(pixels, { raw: { width: size, height: size, channels: 1 } })
        .clahe({ width: tile, height: tile, maxSlope: 3 })
        .greyscale()
        .raw()
        .toBuffer();
      return new Uint8Array(data.buffer, data.byteOffset, data.length);
    }
    default:
      throw new Error(`unknown intensity standardisation ${String(method satisfies never)}`);
  }
}

function headHistogram(pixels: Uint8Array): { histogram: Float64Array; count: number; level: number } {
  const level = backgroundLevel(pixels);
  const histogram = new Float64Array(256);
  let count = 0;
  for (const v of pixels)
    if (v > level) {
      histogram[v] = (histogram[v] as number) + 1;
      count++;
    }
  if (count >= MIN_HEAD_PIXELS) return { histogram, count, level };
  histogram.fill(0);
  for (const v of pixels) histogram[v] = (histogram[v] as number) + 1;
  return { histogram, count: pixels.length, level: -1 };
}

/** Smallest value whose cumulative count reaches `q` of `count`. */
function quantile(histogram: Float64Array, count: number, q: number): number {
  const target = q * count;
  let cumulative = 0;
  for (let v = 0; v < 256; v++) {
    cumulative += histogram[v] as number;
    if (cumulative >= target) return v;
  }
  return 255;
}

function percentileRescale(pixels: Uint8Array): Uint8Array {
  const { histogram, count } = headHistogram(pixels);
  const low = quantile(histogram, count, LOW_PERCENTILE);
  const high = quantile(histogram, count, HIGH_PERCENTILE);
  if (high <= low) return pixels.slice();
  const scale = 255 / (high - low);
  return pixels.map((v) => Math.round(Math.min(255, Math.max(0, (v - low) * scale))));
}

function equalizeHead(pixels: Uint8Array): Uint8Array {
  const { histogram, count, level } = headHistogram(pixels);
  const lookup = new Uint8Array(256);
  let cumulative = 0;
  for (let v = 0; v < 256; v++) {
    cumulative += histogram[v] as number;
    lookup[v] = v <= level ? 0 : Math.round((255 * cumulative) / count);
  }
  return pixels.map((v) => lookup[v] as number);
}
