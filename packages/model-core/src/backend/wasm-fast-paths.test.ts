/**
 * The wasm fast paths added for training speed: zero-copy Identity/Cast, the leading-axes Sum,
 * the SIMD MaxPoolGrad and the hashed dropout masks. Each against the cpu backend (or the
 * JavaScript path it replaces), plus no leaked tensors or wasm buffers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from './init-backend.js';
import { setMaxPoolGradSimd } from './wasm-pool-grads.js';
import { dropoutDraw, dropoutMask, fillDropoutMask, seededDropout } from './fast-random.js';
import { randomArray, relativeError, size } from '../../test/numeric.js';

function on<T>(backend: 'cpu' | 'wasm', f: () => T): T {
  tf.setBackend(backend);
  try {
    return f();
  } finally {
    tf.setBackend('wasm');
  }
}

function expectNoLeaks(run: () => void): void {
  run();
  const tensors = tf.memory().numTensors;
  const buffers = tf.backend().numDataIds();
  for (let i = 0; i < 3; i++) run();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.backend().numDataIds()).toBe(buffers);
}

beforeAll(async () => {
  const info = await initBackend({ backend: 'wasm' });
  expect(info.kernels).toBe('braintune-wasm');
});

describe('zero-copy Identity and Cast on wasm', () => {
  it('clones share the values, outlive their source and free the buffer with the last reference', () => {
    tf.setBackend('wasm');
    const buffers = tf.backend().numDataIds();
    const x = tf.tensor([1.5, -2, 3], [3]);
    const clone = x.clone();
    const same = tf.cast(x, 'float32');
    const asInt = tf.cast(x, 'int32');
    x.dispose();
    expect(Array.from(clone.dataSync())).toEqual([1.5, -2, 3]);
    expect(Array.from(same.dataSync())).toEqual([1.5, -2, 3]);
    expect(Array.from(asInt.dataSync())).toEqual([1, -2, 3]);
    expect(asInt.dtype).toBe('int32');
    tf.dispose([clone, same, asInt]);
    expect(tf.backend().numDataIds()).toBe(buffers);
  });

  it('a variable assigned from a clone does not change the clone', () => {
    tf.setBackend('wasm');
    const v = tf.variable(tf.tensor([1, 2]));
    const saved = v.clone();
    v.assign(tf.tensor([5, 6]));
    expect(Array.from(saved.dataSync())).toEqual([1, 2]);
    expect(Array.from(v.dataSync())).toEqual([5, 6]);
    tf.dispose([v, saved]);
  });
});

describe('Sum over the leading axes on wasm matches the cpu backend', () => {
  const CASES: { shape: number[]; axis: number[] | number; keepDims?: boolean }[] = [
    { shape: [32, 16, 16, 16], axis: [0, 1, 2] }, // SIMD blocks + leftover rows
    { shape: [3, 37, 29, 8], axis: [2, 0, 1], keepDims: true }, // unsorted axes, keepDims
    { shape: [5, 7, 9, 3], axis: [0, 1, 2] }, // channels not a multiple of 4: JavaScript
    { shape: [40, 12], axis: 0 }, // fewer rows than two SIMD blocks
    { shape: [200, 4], axis: [0] },
    { shape: [4, 6, 5], axis: [1] }, // not leading axes: the stock kernel
    { shape: [4, 6, 5], axis: [0, 1, 2] }, // all axes: the stock kernel
  ];
  for (const [i, c] of CASES.entries()) {
    it(`${JSON.stringify(c)}`, () => {
      const data = randomArray(size(c.shape), 31 + i);
      const run = (backend: 'cpu' | 'wasm'): { values: Float32Array; shape: number[] } =>
        on(backend, () =>
          tf.tidy(() => {
            const s = tf.sum(tf.tensor(data, c.shape), c.axis, c.keepDims ?? false);
            return { values: s.dataSync() as Float32Array, shape: s.shape };
          }),
        );
      const wasm = run('wasm');
      const cpu = run('cpu');
      expect(wasm.shape).toEqual(cpu.shape);
      expect(relativeError(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
    });
  }

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.tensor(randomArray(32 * 9 * 9 * 8, 5), [32, 9, 9, 8]);
    expectNoLeaks(() => tf.sum(x, [0, 1, 2]).dispose());
    x.dispose();
  });
});

describe('bias Add on wasm matches the cpu backend', () => {
  const CASES: { a: number[]; b: number[] }[] = [
    { a: [4, 16, 16, 16], b: [16] }, // the SIMD row loop
    { a: [32], b: [8, 32, 32] }, // bias first
    { a: [2, 64, 64], b: [1, 1, 64] }, // bias with leading 1s
    { a: [4, 33, 33, 6], b: [6] }, // channels not a multiple of 4: stock kernel
    { a: [3, 4], b: [4] }, // small: stock kernel
    { a: [64, 64, 8], b: [64, 1, 8] }, // not a row vector: stock kernel
  ];
  for (const [i, c] of CASES.entries()) {
    it(`${JSON.stringify(c)}`, () => {
      const aData = randomArray(size(c.a), 11 + i);
      const bData = randomArray(size(c.b), 13 + i);
      const run = (backend: 'cpu' | 'wasm'): { values: Float32Array; shape: number[] } =>
        on(backend, () =>
          tf.tidy(() => {
            const s = tf.add(tf.tensor(aData, c.a), tf.tensor(bData, c.b));
            return { values: s.dataSync() as Float32Array, shape: s.shape };
          }),
        );
      const wasm = run('wasm');
      const cpu = run('cpu');
      expect(wasm.shape).toEqual(cpu.shape);
      expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
    });
  }
});

describe('matrix Transpose on wasm matches the cpu backend', () => {
  const CASES: { shape: number[]; perm: number[] }[] = [
    { shape: [128, 16], perm: [1, 0] }, // SIMD 4×4 blocks
    { shape: [1, 36, 64], perm: [0, 2, 1] }, // SIMD, leading 1
    { shape: [2, 36, 64], perm: [0, 2, 1] }, // batched: stock kernel
    { shape: [130, 16], perm: [1, 0] }, // rows not a multiple of 4: stock kernel
    { shape: [4, 8, 16], perm: [2, 0, 1] }, // other permutation: stock kernel
  ];
  for (const [i, c] of CASES.entries()) {
    it(`${JSON.stringify(c)}`, () => {
      const data = randomArray(size(c.shape), 41 + i);
      const run = (backend: 'cpu' | 'wasm'): { values: Float32Array; shape: number[] } =>
        on(backend, () =>
          tf.tidy(() => {
            const t = tf.transpose(tf.tensor(data, c.shape), c.perm);
            return { values: t.dataSync() as Float32Array, shape: t.shape };
          }),
        );
      const wasm = run('wasm');
      const cpu = run('cpu');
      expect(wasm.shape).toEqual(cpu.shape);
      expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
    });
  }
});

describe('Conv2DBackpropFilter with few input rows (SIMD accumulation) matches the cpu backend', () => {
  const CASES: {
    x: [number, number, number, number];
    k: number;
    co: number;
    stride: number;
    pad: 'same' | 'valid';
  }[] = [
    { x: [3, 13, 11, 1], k: 3, co: 16, stride: 1, pad: 'same' }, // the seed CNN's first layer
    { x: [2, 70, 69, 1], k: 3, co: 16, stride: 1, pad: 'same' }, // several im2col chunks
    { x: [2, 9, 10, 3], k: 3, co: 32, stride: 1, pad: 'same' }, // 27 rows
    { x: [2, 11, 9, 1], k: 5, co: 16, stride: 2, pad: 'valid' }, // strided, 25 rows
    { x: [2, 7, 7, 1], k: 3, co: 8, stride: 1, pad: 'same' }, // 8 channels: GEMM path
  ];
  for (const [i, c] of CASES.entries()) {
    it(`${JSON.stringify(c)}`, () => {
      const info = tf.backend_util.computeConv2DInfo(c.x, [c.k, c.k, c.x[3], c.co], c.stride, 1, c.pad);
      const xData = randomArray(size(c.x), 51 + i);
      const dyData = randomArray(size(info.outShape), 61 + i);
      const attrs = {
        strides: c.stride,
        pad: c.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: undefined,
        filterShape: [c.k, c.k, c.x[3], c.co],
      };
      const run = (backend: 'cpu' | 'wasm'): Float32Array =>
        on(backend, () =>
          tf.tidy(() => {
            const x = tf.tensor(xData, c.x);
            const dy = tf.tensor(dyData, info.outShape);
            const out = tf
              .engine()
              .runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
            return out.dataSync() as Float32Array;
          }),
        );
      expect(relativeError(run('wasm'), run('cpu'))).toBeLessThanOrEqual(1e-4);
    });
  }

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.tensor(randomArray(2 * 12 * 12, 7), [2, 12, 12, 1]);
    const dy = tf.tensor(randomArray(2 * 12 * 12 * 16, 8), [2, 12, 12, 16]);
    const attrs = {
      strides: 1,
      pad: 'same',
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
      filterShape: [3, 3, 1, 16],
    };
    expectNoLeaks(() =>
      (
        tf
          .engine()
          .runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor
      ).dispose(),
    );
    tf.dispose([x, dy]);
  });
});

describe('SIMD MaxPoolGrad on wasm', () => {
  const SHAPES: [number, number, number, number][] = [
    [2, 8, 8, 8],
    [3, 9, 7, 4], // odd height and width: trailing row/column get no gradient
    [1, 4, 6, 12],
  ];
  for (const [i, shape] of SHAPES.entries()) {
    it(`${JSON.stringify(shape)} equals the JavaScript loop and the cpu backend bit for bit (ties, NaN, -Infinity)`, () => {
      const xData = randomArray(size(shape), 71 + i);
      for (let j = 0; j < xData.length; j += 3) xData[j] = Math.max(0, xData[j]!); // ReLU-like ties
      xData[5] = Number.NaN;
      xData[17] = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < 4; j++) xData[shape[3] * j * 2] = Number.NEGATIVE_INFINITY; // a window of all -Infinity rows
      const info = tf.backend_util.computePool2DInfo(shape, 2, 2, 1, 'valid');
      const dyData = randomArray(size(info.outShape), 91 + i);
      dyData[3] = Number.NaN;
      const run = (backend: 'cpu' | 'wasm'): Float32Array =>
        on(backend, () =>
          tf.tidy(() => {
            const input = tf.tensor(xData, shape);
            const output = tf.maxPool(input as tf.Tensor4D, 2, 2, 'valid');
            const dy = tf.tensor(dyData, info.outShape);
            const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
            const out = tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, attrs) as tf.Tensor;
            return out.dataSync() as Float32Array;
          }),
        );
      const simd = run('wasm');
      setMaxPoolGradSimd(false);
      let js: Float32Array;
      try {
        js = run('wasm');
      } finally {
        setMaxPoolGradSimd(true);
      }
      const cpu = run('cpu');
      for (let j = 0; j < cpu.length; j++) {
        expect(Object.is(simd[j], js[j]), `element ${j}: simd ${simd[j]} js ${js[j]}`).toBe(true);
        expect(Object.is(simd[j], cpu[j]), `element ${j}: simd ${simd[j]} cpu ${cpu[j]}`).toBe(true);
      }
    });
  }
});

describe('seeded dropout masks (fast-random)', () => {
  it('are the same on wasm (SIMD) and cpu (JavaScript), including a tail of odd length', () => {
    for (const shape of [[4, 9, 9, 3], [2, 5, 7], [1]]) {
      const wasm = on('wasm', () => tf.tidy(() => dropoutMask(shape, 0.3, 123456789).dataSync()));
      const cpu = on('cpu', () => tf.tidy(() => dropoutMask(shape, 0.3, 123456789).dataSync()));
      expect(Array.from(wasm)).toEqual(Array.from(cpu));
      const js = new Float32Array(size(shape));
      fillDropoutMask(js, 0.3, 123456789);
      expect(Array.from(wasm)).toEqual(Array.from(js));
    }
  });

  it('keep 1-rate of the elements, scaled by 1/(1-rate), and depend on the seed only', () => {
    tf.setBackend('wasm');
    const n = 200_000;
    const mask = tf.tidy(() => dropoutMask([n], 0.2, 7).dataSync());
    const scale = Math.fround(1 / 0.8);
    let kept = 0;
    let other = 0;
    for (const v of mask) {
      if (v === scale) kept++;
      else if (v !== 0) other++;
    }
    expect(other).toBe(0);
    expect(Math.abs(kept / n - 0.8)).toBeLessThan(0.005);
    const again = tf.tidy(() => dropoutMask([n], 0.2, 7).dataSync());
    expect(again.every((v, i) => v === mask[i])).toBe(true);
    const seed8 = tf.tidy(() => dropoutMask([n], 0.2, 8).dataSync());
    let same = 0;
    for (let i = 0; i < n; i++) if ((seed8[i] === 0) === (mask[i] === 0)) same++;
    // Independent masks agree on 0.8² + 0.2² = 68 % of the elements.
    expect(Math.abs(same / n - 0.68)).toBeLessThan(0.01);
    expect(dropoutDraw(0, 7)).not.toBe(dropoutDraw(1, 7));
  });

  it('dropout multiplies by the mask, its gradient is the mask, and nothing leaks', () => {
    tf.setBackend('wasm');
    const x = tf.tensor(randomArray(2 * 6 * 6 * 4, 3), [2, 6, 6, 4]);
    const mask = tf.tidy(() => dropoutMask(x.shape, 0.25, 99).dataSync());
    const y = seededDropout(x, 0.25, 99);
    const xv = x.dataSync();
    const yv = y.dataSync();
    for (let i = 0; i < xv.length; i++) expect(yv[i]).toBeCloseTo(xv[i]! * mask[i]!, 6);
    const g = tf.grad((t: tf.Tensor) => tf.sum(seededDropout(t, 0.25, 99)))(x);
    expect(Array.from(g.dataSync())).toEqual(Array.from(mask));
    tf.dispose([y, g]);
    expectNoLeaks(() => tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(seededDropout(t, 0.25, 99)))(x)));
    x.dispose();
  });
});
