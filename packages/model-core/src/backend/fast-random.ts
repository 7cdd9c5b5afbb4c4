/**
 * Fast seeded dropout.
 *
 * `tf.dropout(x, rate, undefined, seed)` draws its uniform numbers with seedrandom's alea in
 * JavaScript, one call per element (~20 ms for a [32,64,64,16] activation), then runs
 * Add + Floor + RealDiv + Multiply over the activation. Here the mask is a counter-based hash
 * of the element index: on the wasm backend a SIMD loop writes it straight into a heap tensor
 * (4 lanes per instruction), elsewhere a JavaScript loop computes the same values; dropout is
 * then one Multiply, whose gradient is one Multiply by the same mask.
 *
 * The mask is a pure function of (seed, element index, rate), identical on every backend, so
 * a resumed run that passes the same per-step seed draws the same masks. (It is not the same
 * random stream as tf.dropout's.)
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from './wasm-heap.js';
import { simdKernels } from './wasm-simd.js';

/** The "lowbias32" integer hash (good avalanche, two multiplies). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b | 0);
  return h ^ (h >>> 16);
}

/** The two keys derived from a seed. */
function keys(seed: number): [number, number] {
  return [seed | 0, mix((seed ^ 0x9e3779b9) | 0)];
}

/** Uniform uint32 number i of the stream `seed`: mix(mix(i + k1) ^ k2). */
export function dropoutDraw(i: number, seed: number): number {
  const [k1, k2] = keys(seed);
  return mix(mix((i + k1) | 0) ^ k2) >>> 0;
}

interface MaskParams {
  k1: number;
  k2: number;
  threshold: number;
  scale: number;
}

function maskParams(rate: number, seed: number): MaskParams {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${rate}`);
  const keep = 1 - rate;
  const [k1, k2] = keys(seed);
  // Keep element i when draw(i) < keep·2³² (unsigned); the scale keeps the expected value.
  return {
    k1,
    k2,
    threshold: Math.min(4294967295, Math.round(keep * 4294967296)),
    scale: Math.fround(1 / keep),
  };
}

function fillFrom(out: Float32Array, from: number, p: MaskParams): void {
  const { k1, k2, threshold, scale } = p;
  for (let i = from; i < out.length; i++) out[i] = mix(mix((i + k1) | 0) ^ k2) >>> 0 < threshold ? scale : 0;
}

/** Fills `out` with the dropout mask of (rate, seed): 1/(1-rate) with probability 1-rate, else 0. */
export function fillDropoutMask(out: Float32Array, rate: number, seed: number): void {
  fillFrom(out, 0, maskParams(rate, seed));
}

function isWasmBackend(backend: unknown): backend is WasmBackendLike {
  return (
    tf.getBackend() === 'wasm' && typeof (backend as Partial<WasmBackendLike>).getMemoryOffset === 'function'
  );
}

/** The dropout mask of (rate, seed) as a float32 tensor of `shape`. */
export function dropoutMask(shape: readonly number[], rate: number, seed: number): tf.Tensor {
  const p = maskParams(rate, seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const backend = tf.backend();
  if (isWasmBackend(backend)) {
    const simd = simdKernels(backend);
    if (simd !== undefined) {
      const info = backend.makeOutput(shape.slice(), 'float32');
      const groups = Math.floor(size / 4);
      const scaleBits = new Int32Array(new Float32Array([p.scale]).buffer)[0]!;
      simd.dropoutMask(backend.getMemoryOffset(info.dataId), groups, p.k1, p.k2, p.threshold, scaleBits);
      if (groups * 4 < size) fillFrom(backend.typedArrayFromHeap(info) as Float32Array, groups * 4, p);
      return tf.engine().makeTensorFromTensorInfo(info);
    }
  }
  const values = new Float32Array(size);
  fillFrom(values, 0, p);
  return tf.tensor(values, shape.slice(), 'float32');
}

/**
 * Inverted dropout of x with the seeded mask: x · mask. Differentiable through tf.mul (the
 * gradient is dy · mask); the mask itself needs no gradient.
 */
export function seededDropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate === 0) return x.clone();
  return tf.tidy(() => tf.mul(x, dropoutMask(x.shape, rate, seed)));
}
