/**
 * Small deterministic PRNG for seeded sampling. Math.random is never used: the same study
 * seed and trial index must propose the same hyperparameters on every machine and after
 * every coordinator restart.
 */

/** murmur3's 32-bit finaliser: spreads every input bit over the whole word. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Folds any safe integer (also above 2^32 or negative) and a list of salts into one 32-bit seed. */
export function mixSeed(seed: number, ...salts: number[]): number {
  const high = Math.floor(seed / 2 ** 32);
  let h = fmix32((seed >>> 0) ^ fmix32(high + 0x9e3779b9));
  for (const salt of salts) {
    h = fmix32(h ^ fmix32(Math.imul(salt + 1, 0x9e3779b9) ^ (Math.floor(salt / 2 ** 32) >>> 0)));
  }
  return h;
}

export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
}

/** mulberry32: 32-bit state, passes gjrand/PractRand far enough for sampling search spaces. */
export function mulberry32(seed: number): Prng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, nextInt: (n) => Math.min(n - 1, Math.floor(next() * n)) };
}

/** Seed a worker uses for the weights, shuffling and augmentation of one trial. */
export function trialSeed(studySeed: number, trialIndex: number): number {
  return mixSeed(studySeed, 0x7472, trialIndex);
}
