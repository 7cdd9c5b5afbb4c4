import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '@braintune/protocol';
import {
  DEFAULT_POINTING_TOLERANCE,
  centredGaussianMap,
  dilateMask,
  pointAt,
  pointingScore,
  summarisePointing,
} from './pointing.js';
import { pointingReport } from './pointing-eval.js';

const size = 10;
/** A 2×2 lesion at x 6–7, y 2–3 of a 10×10 image. */
function lesion(): Uint8Array {
  const m = new Uint8Array(size * size);
  for (const [x, y] of [
    [6, 2],
    [7, 2],
    [6, 3],
    [7, 3],
  ] as const)
    m[y * size + x] = 1;
  return m;
}
function mapWithPeak(x: number, y: number, background = 0.1): Float32Array {
  const map = new Float32Array(size * size).fill(background);
  map[y * size + x] = 1;
  return map;
}

describe('pointing game', () => {
  it('counts a peak inside the lesion as a hit and one far away as a miss', () => {
    const mask = lesion();
    expect(pointingScore(mapWithPeak(7, 3), mask, size, { tolerance: 0 }).hit).toBe(true);
    expect(pointingScore(mapWithPeak(1, 8), mask, size, { tolerance: 0 }).hit).toBe(false);
  });

  it('accepts a peak within the tolerance of the lesion and no further', () => {
    const mask = lesion();
    // (8, 3) is 1 px right of the lesion, (9, 3) 2 px.
    expect(pointingScore(mapWithPeak(8, 3), mask, size, { tolerance: 0 }).hit).toBe(false);
    expect(pointingScore(mapWithPeak(8, 3), mask, size, { tolerance: 0.1 }).hit).toBe(true);
    expect(pointingScore(mapWithPeak(9, 3), mask, size, { tolerance: 0.1 }).hit).toBe(false);
    expect(pointingScore(mapWithPeak(9, 3), mask, size, { tolerance: 0.2 }).hit).toBe(true);
    // Diagonal: (8, 4) is √2 px from (7, 3).
    expect(pointingScore(mapWithPeak(8, 4), mask, size, { tolerance: 0.1 }).hit).toBe(false);
    expect(pointingScore(mapWithPeak(8, 4), mask, size, { tolerance: 0.15 }).hit).toBe(true);
    expect(DEFAULT_POINTING_TOLERANCE * 48).toBe(2);
  });

  it('measures the share of the map mass inside the lesion, and what a random map would get', () => {
    const mask = lesion();
    // Total: 99 pixels at 0.1 and the peak at 1 = 10.9; inside: the peak and 3 × 0.1 = 1.3.
    const score = pointingScore(mapWithPeak(6, 2), mask, size, { tolerance: 0 });
    expect(score.massInside).toBeCloseTo(1.3 / 10.9, 6);
    expect(score.lesionFraction).toBeCloseTo(0.04, 9);
    expect(score.hitArea).toBeCloseTo(0.04, 9);
    // Negative values carry no mass (CAM maps are ReLU'd; a baseline might not be).
    const signed = new Float32Array(size * size).fill(-1);
    signed[2 * size + 6] = 2;
    expect(pointingScore(signed, mask, size).massInside).toBe(1);
  });

  it('treats an empty map as pointing nowhere and rejects an empty mask or mismatched sizes', () => {
    const empty = pointingScore(new Float32Array(size * size), lesion(), size);
    expect(empty).toMatchObject({ hit: false, massInside: 0 });
    expect(() => pointingScore(mapWithPeak(1, 1), new Uint8Array(size * size), size)).toThrow(
      InvalidInputError,
    );
    expect(() => pointingScore(new Float32Array(9), lesion(), size)).toThrow(/needs a 10×10 heatmap/);
    expect(() => pointingScore(mapWithPeak(1, 1), lesion(), size, { tolerance: 1.5 })).toThrow(
      InvalidInputError,
    );
  });

  it('points at the middle of a plateau of maxima, not at its first pixel', () => {
    // A flat maximum over x 5–9, y 0–4 (as a clamped bilinear upsampling leaves in a corner).
    const map = new Float32Array(size * size);
    for (let y = 0; y < 5; y++) for (let x = 5; x < 10; x++) map[y * size + x] = 1;
    expect(pointAt(map, size)).toEqual({ x: 7, y: 2 });
    expect(pointingScore(map, lesion(), size, { tolerance: 0 }).hit).toBe(true);
    expect(pointAt(new Float32Array(4), 2)).toBeNull();
  });

  it('dilates a mask by a Euclidean radius', () => {
    const m = new Uint8Array(25);
    m[12] = 1; // centre of 5×5
    expect(dilateMask(m, 5, 1).reduce((a, v) => a + v, 0)).toBe(5); // a plus
    expect(dilateMask(m, 5, 1.5).reduce((a, v) => a + v, 0)).toBe(9); // a 3×3 square
  });

  it('summarises scores and gives the centred Gaussian baseline its peak in the middle', () => {
    const mask = lesion();
    const scores = [
      pointingScore(mapWithPeak(6, 2), mask, size, { tolerance: 0 }),
      pointingScore(mapWithPeak(0, 9), mask, size, { tolerance: 0 }),
    ];
    const summary = summarisePointing(scores);
    expect(summary.scans).toBe(2);
    expect(summary.pointingAccuracy).toBe(0.5);
    expect(summary.massInside).toBeCloseTo((scores[0]!.massInside + scores[1]!.massInside) / 2, 9);
    expect(summary.random).toEqual({ pointingAccuracy: 0.04, massInside: 0.04 });
    const gaussian = centredGaussianMap(size);
    const peak = pointAt(gaussian, size)!;
    expect([4, 5]).toContain(peak.x);
    expect([4, 5]).toContain(peak.y);
    expect(gaussian[0]!).toBeLessThan(gaussian[4 * size + 4]! / 2);
    expect(pointingScore(gaussian, lesion(), size, { tolerance: 0 }).hit).toBe(false);
  });
});

describe('pointingReport', () => {
  it('scores core and extent, per class, and counts peaks near the border', () => {
    const core = lesion();
    const extent = dilateMask(core, size, 1);
    const cases = [0, 1].map((classIndex) => ({
      file: `scan-${classIndex}`,
      classIndex,
      pixels: new Uint8Array(size * size),
      core,
      extent,
    }));
    // Class 0: peak on the lesion; class 1: peak in the top-left corner, far from it.
    const report = pointingReport(
      cases,
      ['a', 'b'],
      (c) => (c.classIndex === 0 ? mapWithPeak(6, 2) : mapWithPeak(0, 0)),
      {
        tolerance: 0,
      },
    );
    expect(report.core.pointingAccuracy).toBe(0.5);
    expect(report.perClass).toMatchObject({
      a: { scans: 1, pointingAccuracy: 1 },
      b: { pointingAccuracy: 0 },
    });
    expect(report.peakNearBorder).toBe(0.5);
    // A peak just outside the core but on the extent counts for the extent only.
    const nearMiss = pointingReport([cases[0]!], ['a'], () => mapWithPeak(8, 3), { tolerance: 0 });
    expect([nearMiss.core.pointingAccuracy, nearMiss.extent.pointingAccuracy]).toEqual([0, 1]);
  });
});
