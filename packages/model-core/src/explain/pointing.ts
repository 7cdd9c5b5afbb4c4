import { InvalidInputError } from '@braintune/protocol';

/**
 * Pointing-game metrics (Zhang et al., 2016) for a saliency map against a known lesion mask.
 * TF-free: heatmaps and masks are plain row-major arrays of the same side (the model input's).
 */

/**
 * Default tolerance: 1/24 of the image side (2 px at 48 px, ~5 px at 128 px). Zhang et al. allow
 * 15 px at 224 px (1/15) for objects with a bounding box; our masks are the lesion core itself,
 * and resizing the scan blurs its edge by about a pixel, so one more pixel beyond that keeps a
 * peak on the lesion's rim a hit without letting a peak on the skull count for a glioma.
 */
export const DEFAULT_POINTING_TOLERANCE = 1 / 24;

export interface PointingOptions {
  /** Tolerance as a fraction of the image side: a peak this close to the mask is a hit. */
  tolerance?: number;
}

export interface PointingScore {
  /** The map's peak lies in the lesion (within the tolerance). False for an all-zero map. */
  hit: boolean;
  /** Share of the map's total mass inside the lesion mask, 0–1 (0 for an all-zero map). */
  massInside: number;
  /** Share of the image inside the mask: the mass a uniformly random map puts there on average. */
  lesionFraction: number;
  /** Share of the image within the tolerance of the mask: a random peak's chance of a hit. */
  hitArea: number;
}

function check(heatmap: ArrayLike<number>, mask: ArrayLike<number>, size: number): void {
  if (!Number.isInteger(size) || size < 1 || heatmap.length !== size * size || mask.length !== size * size)
    throw new InvalidInputError(
      `pointing game needs a ${size}×${size} heatmap and mask, got ${heatmap.length} and ${mask.length} values`,
      'upsample the heatmap to the mask size first (upsampleBilinear)',
    );
}

/**
 * Where a map points: its maximum. A plateau of equal maxima (a bilinearly upsampled coarse map
 * is flat near the border) points at its maximal pixel nearest to the plateau's centroid, not at
 * its first pixel in scan order, which would bias the peak towards the top-left.
 */
export function pointAt(heatmap: ArrayLike<number>, size: number): { x: number; y: number } | null {
  let max = -Infinity;
  for (let i = 0; i < heatmap.length; i++) if (heatmap[i]! > max) max = heatmap[i]!;
  if (!(max > 0)) return null;
  const eps = max * 1e-6;
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let i = 0; i < heatmap.length; i++)
    if (heatmap[i]! >= max - eps) {
      sx += i % size;
      sy += Math.floor(i / size);
      n++;
    }
  const [cx, cy] = [sx / n, sy / n];
  let best = { x: 0, y: 0 };
  let bestDistance = Infinity;
  for (let i = 0; i < heatmap.length; i++)
    if (heatmap[i]! >= max - eps) {
      const x = i % size;
      const y = Math.floor(i / size);
      const d = (x - cx) ** 2 + (y - cy) ** 2;
      if (d < bestDistance) [best, bestDistance] = [{ x, y }, d];
    }
  return best;
}

/** 1 for every pixel within `radius` pixels (Euclidean) of the mask. */
export function dilateMask(mask: ArrayLike<number>, size: number, radius: number): Uint8Array {
  const out = new Uint8Array(size * size);
  const r = Math.floor(radius);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      if (!mask[y * size + x]) continue;
      for (let dy = -r; dy <= r; dy++)
        for (let dx = -r; dx <= r; dx++) {
          const [u, v] = [x + dx, y + dy];
          if (u >= 0 && v >= 0 && u < size && v < size && dx * dx + dy * dy <= radius * radius)
            out[v * size + u] = 1;
        }
    }
  return out;
}

/** Scores one map against one non-empty lesion mask (both size², row-major). */
export function pointingScore(
  heatmap: ArrayLike<number>,
  mask: ArrayLike<number>,
  size: number,
  options: PointingOptions = {},
): PointingScore {
  check(heatmap, mask, size);
  const tolerance = options.tolerance ?? DEFAULT_POINTING_TOLERANCE;
  if (!(tolerance >= 0 && tolerance < 1))
    throw new InvalidInputError(`pointing tolerance ${tolerance} is outside [0, 1)`, 'use e.g. 1/24');
  const zone = dilateMask(mask, size, tolerance * size);
  let lesion = 0;
  let inZone = 0;
  let total = 0;
  let inside = 0;
  for (let i = 0; i < size * size; i++) {
    const v = Math.max(0, heatmap[i]!);
    total += v;
    if (mask[i]) {
      lesion++;
      inside += v;
    }
    if (zone[i]) inZone++;
  }
  if (lesion === 0)
    throw new InvalidInputError(
      'the lesion mask is empty',
      'score tumour scans only; no-tumour scans have no lesion',
    );
  const peak = pointAt(heatmap, size);
  return {
    hit: peak !== null && zone[peak.y * size + peak.x] === 1,
    massInside: total > 0 ? inside / total : 0,
    lesionFraction: lesion / (size * size),
    hitArea: inZone / (size * size),
  };
}

export interface PointingSummary {
  scans: number;
  /** Share of scans whose peak is a hit. */
  pointingAccuracy: number;
  /** Mean share of the map's mass inside the lesion. */
  massInside: number;
  /** What a uniformly random map scores on average: mean hit area and mean lesion fraction. */
  random: { pointingAccuracy: number; massInside: number };
}

export function summarisePointing(scores: readonly PointingScore[]): PointingSummary {
  const n = scores.length;
  const mean = (f: (s: PointingScore) => number) => (n ? scores.reduce((a, s) => a + f(s), 0) / n : 0);
  return {
    scans: n,
    pointingAccuracy: mean((s) => (s.hit ? 1 : 0)),
    massInside: mean((s) => s.massInside),
    random: { pointingAccuracy: mean((s) => s.hitArea), massInside: mean((s) => s.lesionFraction) },
  };
}

/**
 * A baseline "explanation" that ignores the model: a Gaussian centred on the image with standard
 * deviation `sigma` × side. Lesions in the middle of the head score well against it, so a real
 * explanation has to beat it to show it looks at the lesion and not just at the middle.
 */
export function centredGaussianMap(size: number, sigma = 0.25): Float32Array {
  const out = new Float32Array(size * size);
  const s = sigma * size;
  const c = size / 2;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      out[y * size + x] = Math.exp(-((x + 0.5 - c) ** 2 + (y + 0.5 - c) ** 2) / (2 * s * s));
  return out;
}
