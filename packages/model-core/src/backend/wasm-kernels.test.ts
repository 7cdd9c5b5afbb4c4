/**
 * braintune's wasm training kernels against the cpu backend's kernels: numerics on random shapes,
 * a full CNN gradient, and no leaked tensors or wasm buffers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from './init-backend.js';
import { setFilterGradMethod, type FilterGradMethod } from './wasm-conv-grads.js';
import { randomArray, relativeError, size } from '../../test/numeric.js';

type Shape4 = [number, number, number, number];
type Pad =
  'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Runs one kernel on a backend with inputs given as arrays; returns the output values. */
function runKernelOn(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, { data: Float32Array; shape: number[] }>,
  attrs: Record<string, unknown>,
): Float32Array {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const ts: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.data, v.shape);
    const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

interface ConvCase {
  x: Shape4;
  k: number;
  outC: number;
  stride: number;
  pad: Pad;
}

// stride 1/2 × same/valid/explicit × 1×1/3×3/5×5 × odd sizes × batch 1/>1 × channels 1/>1
const CONV_CASES: ConvCase[] = [
  { x: [1, 7, 7, 1], k: 3, outC: 1, stride: 1, pad: 'same' },
  { x: [2, 9, 7, 3], k: 3, outC: 4, stride: 2, pad: 'same' },
  { x: [3, 9, 9, 2], k: 3, outC: 5, stride: 2, pad: 'valid' },
  { x: [2, 11, 6, 1], k: 5, outC: 3, stride: 1, pad: 'valid' },
  { x: [1, 13, 13, 4], k: 5, outC: 2, stride: 2, pad: 'same' },
  { x: [3, 8, 8, 4], k: 5, outC: 6, stride: 1, pad: 'same' },
  { x: [2, 7, 5, 3], k: 1, outC: 4, stride: 1, pad: 'same' },
  { x: [2, 9, 9, 3], k: 1, outC: 2, stride: 2, pad: 'valid' },
  { x: [1, 8, 8, 1], k: 5, outC: 2, stride: 2, pad: 'valid' },
  { x: [2, 10, 10, 2], k: 3, outC: 3, stride: 2, pad: 1 },
  {
    x: [2, 9, 10, 2],
    k: 3,
    outC: 3,
    stride: 1,
    pad: [
      [0, 0],
      [2, 0],
      [1, 1],
      [0, 0],
    ],
  },
  { x: [4, 16, 16, 8], k: 3, outC: 16, stride: 1, pad: 'same' },
  // more output pixels than one im2col chunk (4096), with a chunk boundary inside an image
  { x: [3, 50, 45, 2], k: 3, outC: 4, stride: 1, pad: 'same' },
  { x: [2, 70, 69, 1], k: 5, outC: 2, stride: 1, pad: 'valid' },
];

beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  await initBackend({ backend: 'wasm' });
});

describe('wasm convolution gradients match the cpu backend', () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const name = `${JSON.stringify(c.x)}→${c.outC} ${c.k}×${c.k} stride ${c.stride} pad ${JSON.stringify(c.pad)}`;
    it(name, () => {
      const filterShape: Shape4 = [c.k, c.k, c.x[3], c.outC];
      const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.stride, 1, c.pad);
      const x = { data: randomArray(size(c.x), 11 + i), shape: c.x };
      const filter = { data: randomArray(size(filterShape), 23 + i), shape: filterShape };
      const dy = { data: randomArray(size(info.outShape), 37 + i), shape: info.outShape };
      const common = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };

      const dxAttrs = { ...common, inputShape: c.x };
      const dxCpu = runKernelOn('cpu', 'Conv2DBackpropInput', { dy, filter }, dxAttrs);
      const dxWasm = runKernelOn('wasm', 'Conv2DBackpropInput', { dy, filter }, dxAttrs);
      expect(relativeError(dxWasm, dxCpu)).toBeLessThanOrEqual(1e-4);

      const dwAttrs = { ...common, filterShape };
      const dwCpu = runKernelOn('cpu', 'Conv2DBackpropFilter', { x, dy }, dwAttrs);
      for (const method of ['conv', 'im2col'] as FilterGradMethod[]) {
        setFilterGradMethod(method);
        try {
          const dwWasm = runKernelOn('wasm', 'Conv2DBackpropFilter', { x, dy }, dwAttrs);
          expect(relativeError(dwWasm, dwCpu), `dW via ${method}`).toBeLessThanOrEqual(1e-4);
        } finally {
          setFilterGradMethod('auto');
        }
      }
    });
  }

  it('rejects dilations other than 1 and NCHW with a clear error', () => {
    tf.setBackend('wasm');
    const x = tf.zeros([1, 5, 5, 1]);
    const dy = tf.zeros([1, 5, 5, 1]);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NCHW',
        filterShape: [3, 3, 1, 1],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/NHWC/);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: tf.zeros([3, 3, 1, 1]) }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NHWC',
        dilations: 2,
        inputShape: [1, 5, 5, 1],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/dilation 1/);
    tf.dispose([x, dy]);
  });
});

describe('other wasm training kernels match the cpu backend', () => {
  const POOLS: { x: Shape4; filter: number; stride: number; pad: 'same' | 'valid' }[] = [
    { x: [2, 8, 8, 3], filter: 2, stride: 2, pad: 'valid' },
    { x: [3, 9, 7, 4], filter: 2, stride: 2, pad: 'valid' },
    { x: [2, 9, 7, 2], filter: 3, stride: 2, pad: 'same' },
    { x: [1, 6, 6, 1], filter: 3, stride: 1, pad: 'same' },
  ];
  for (const [i, p] of POOLS.entries()) {
    it(`MaxPoolGrad ${JSON.stringify(p)}`, () => {
      const xData = randomArray(size(p.x), 101 + i);
      // Include ties (as after a ReLU): the first maximum in scan order gets the gradient.
      for (let j = 0; j < xData.length; j += 3) xData[j] = Math.max(0, xData[j]!);
      const info = tf.backend_util.computePool2DInfo(p.x, p.filter, p.stride, 1, p.pad);
      const dy = { data: randomArray(size(info.outShape), 201 + i), shape: info.outShape };
      const attrs = { filterSize: p.filter, strides: p.stride, pad: p.pad, dimRoundingMode: undefined };
      const run = (backend: 'cpu' | 'wasm'): Float32Array => {
        tf.setBackend(backend);
        return tf.tidy(() => {
          const input = tf.tensor(xData, p.x);
          const output = tf.maxPool(input as tf.Tensor4D, p.filter, p.stride, p.pad);
          const dyT = tf.tensor(dy.data, dy.shape);
          const out = tf
            .engine()
            .runKernel(
              'MaxPoolGrad',
              { dy: dyT, input, output },
              attrs as unknown as tf.NamedAttrMap,
            ) as tf.Tensor;
          return out.dataSync() as Float32Array;
        });
      };
      expect(relativeError(run('wasm'), run('cpu'))).toBeLessThanOrEqual(1e-6);
    });
  }

  const MATMULS: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
    { a: [37, 19], b: [37, 5], ta: true, tb: false },
    { a: [7, 19], b: [5, 19], ta: false, tb: true },
    { a: [19, 7], b: [5, 19], ta: true, tb: true },
    { a: [3, 11, 6], b: [3, 11, 4], ta: true, tb: false },
    { a: [3, 11, 6], b: [1, 11, 4], ta: true, tb: false },
    { a: [1, 6, 9], b: [1, 40, 9], ta: false, tb: true },
    { a: [2, 6, 9], b: [2, 40, 9], ta: false, tb: true },
    { a: [40, 9], b: [6, 9], ta: false, tb: true },
  ];
  for (const [i, m] of MATMULS.entries()) {
    it(`BatchMatMul ${JSON.stringify(m)}`, () => {
      const a = { data: randomArray(size(m.a), 301 + i), shape: m.a };
      const b = { data: randomArray(size(m.b), 401 + i), shape: m.b };
      const attrs = { transposeA: m.ta, transposeB: m.tb };
      const cpu = runKernelOn('cpu', 'BatchMatMul', { a, b }, attrs);
      const wasm = runKernelOn('wasm', 'BatchMatMul', { a, b }, attrs);
      tf.setBackend('wasm');
      const shapeOnWasm = tf.tidy(
        () => tf.matMul(tf.tensor(a.data, a.shape), tf.tensor(b.data, b.shape), m.ta, m.tb).shape,
      );
      tf.setBackend('cpu');
      const shapeOnCpu = tf.tidy(
        () => tf.matMul(tf.tensor(a.data, a.shape), tf.tensor(b.data, b.shape), m.ta, m.tb).shape,
      );
      expect(shapeOnWasm).toEqual(shapeOnCpu);
      expect(relativeError(wasm, cpu)).toBeLessThanOrEqual(1e-5);
    });
  }
});

/** A small CNN with the layers the hypermodels use, with seeded initialisers and dropout. */
function smallCnn(): tfl.Sequential {
  let seed = 1;
  const init = (): ReturnType<typeof tfl.initializers.glorotUniform> =>
    tfl.initializers.glorotUniform({ seed: seed++ });
  const m = tfl.sequential();
  m.add(
    tfl.layers.conv2d({
      inputShape: [15, 15, 1],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: init(),
    }),
  );
  m.add(tfl.layers.batchNormalization());
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.dropout({ rate: 0.25, seed: 5 }));
  m.add(
    tfl.layers.conv2d({
      filters: 6,
      kernelSize: 5,
      strides: 2,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: init(),
    }),
  );
  m.add(tfl.layers.conv2d({ filters: 6, kernelSize: 1, padding: 'valid', kernelInitializer: init() }));
  m.add(tfl.layers.globalAveragePooling2d({}));
  m.add(tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: init() }));
  m.add(tfl.layers.batchNormalization());
  m.add(tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init() }));
  return m;
}

/** A small residual network: stride-2 conv, batch norm, ReLU, 1×1 projection shortcut, add. */
function smallResNet(): tfl.LayersModel {
  let seed = 11;
  const init = (): ReturnType<typeof tfl.initializers.glorotUniform> =>
    tfl.initializers.glorotUniform({ seed: seed++ });
  const input = tfl.input({ shape: [15, 15, 1] });
  const stem = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init() })
    .apply(input) as tfl.SymbolicTensor;
  // no bias before batch norm: its gradient would be exactly zero
  const a = tfl.layers
    .conv2d({
      filters: 6,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(),
    })
    .apply(stem) as tfl.SymbolicTensor;
  const aBn = tfl.layers.reLU().apply(tfl.layers.batchNormalization().apply(a)) as tfl.SymbolicTensor;
  const b = tfl.layers
    .conv2d({ filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: init() })
    .apply(aBn) as tfl.SymbolicTensor;
  const shortcut = tfl.layers
    .conv2d({ filters: 6, kernelSize: 1, strides: 2, padding: 'same', kernelInitializer: init() })
    .apply(stem) as tfl.SymbolicTensor;
  const sum = tfl.layers.reLU().apply(tfl.layers.add().apply([b, shortcut])) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(sum) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: 4, activation: 'softmax', kernelInitializer: init() })
    .apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/** Gradients of the cross-entropy loss w.r.t. every trainable weight, on one backend. */
function cnnGradients(
  backend: 'cpu' | 'wasm',
  build: () => tfl.LayersModel,
  weights: Float32Array[] | undefined,
): { grads: Float32Array[]; weights: Float32Array[] } {
  tf.setBackend(backend);
  const model = build();
  if (weights !== undefined) {
    model.setWeights(model.getWeights().map((w, i) => tf.tensor(weights[i]!, w.shape)));
  }
  const x = tf.tensor(randomArray(6 * 15 * 15, 7), [6, 15, 15, 1]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32'), 4);
  const { grads } = tf.variableGrads(() => {
    const p = model.apply(x, { training: true }) as tf.Tensor;
    return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.add(p, 1e-7))), -1))) as tf.Scalar;
  });
  const out = model.trainableWeights.map((w) => {
    const g = grads[(w.read() as tf.Variable).name];
    if (g === undefined) throw new Error(`no gradient for ${w.name}`);
    return g.dataSync() as Float32Array;
  });
  const usedWeights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([x, y, ...Object.values(grads)]);
  model.dispose();
  return { grads: out, weights: usedWeights };
}

describe('small networks train on wasm with braintune kernels', () => {
  for (const [name, build] of [
    ['CNN (conv/BN/max-pool/dropout/GAP/dense)', smallCnn],
    ['residual network (stride 2, 1×1 shortcut, add)', smallResNet],
  ] as const) {
    it(`${name}: the full gradient matches the cpu backend`, () => {
      const wasm = cnnGradients('wasm', build, undefined);
      const cpu = cnnGradients('cpu', build, wasm.weights);
      expect(cpu.grads.length).toBe(wasm.grads.length);
      expect(wasm.grads.length).toBeGreaterThanOrEqual(8);
      for (const [i, g] of wasm.grads.entries()) {
        const ref = cpu.grads[i]!;
        let scale = 1e-6;
        let diff = 0;
        for (let j = 0; j < ref.length; j++) {
          scale = Math.max(scale, Math.abs(ref[j]!));
          diff = Math.max(diff, Math.abs(g[j]! - ref[j]!));
        }
        expect(scale, `gradient ${i} is not all zeros`).toBeGreaterThan(1e-6);
        expect(diff / scale, `gradient ${i} (normalised by its max)`).toBeLessThanOrEqual(1e-4);
      }
    });
  }

  it('leaks no tensors and no wasm buffers', () => {
    tf.setBackend('wasm');
    const x = tf.tensor(randomArray(2 * 9 * 9 * 3, 3), [2, 9, 9, 3]);
    const w = tf.tensor(randomArray(3 * 3 * 3 * 4, 4), [3, 3, 3, 4]);
    const a = tf.tensor(randomArray(18 * 5, 5), [18, 5]);
    const run = (): void => {
      const g = tf.grads((xi: tf.Tensor, wi: tf.Tensor) => {
        const conv = tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 2, 'same');
        const pooled = tf.maxPool(tf.relu(conv), 2, 1, 'valid');
        const flat = tf.reshape(pooled, [2, -1]);
        return tf.add(tf.sum(tf.matMul(flat, flat, true, false)), tf.sum(tf.matMul(a, a, true, false)));
      })([x, w]);
      tf.dispose(g);
    };
    run();
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = tf.backend().numDataIds();
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(tf.backend().numDataIds()).toBe(buffersBefore);
    tf.dispose([x, w, a]);
  });
});
