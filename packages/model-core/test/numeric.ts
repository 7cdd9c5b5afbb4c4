/** Numeric helpers shared by the kernel tests that compare a wasm result with the cpu reference. */
import { expect } from 'vitest';

/** Seeded uniform(-scale, scale) values (a small LCG), so every run tests the same numbers. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale;
  }
  return out;
}

/** Number of elements of a tensor of this shape. */
export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * max |a-b| / max(floor, max |b|): relative for large values, absolute (scaled by `floor`) near
 * zero. Fails the test when the lengths differ.
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}
