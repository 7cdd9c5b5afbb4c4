/**
 * The fused Adam against tf.train.adam: same numbers over several steps (with the learning rate
 * changed between steps, as the cosine schedule does, and through conv/matmul weights whose
 * packed copies XNNPACK caches), same state layout, checkpoint round trips through
 * getWeights/setWeights, no leaks, no kernel calls on wasm, stock path on cpu.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from './init-backend.js';
import { randomArray, relativeError } from '../../test/numeric.js';
import { fusedAdam } from './fused-adam.js';

/** Sizes with and without a remainder after groups of 4 (the scalar tail). */
const SHAPES: number[][] = [[3, 3, 1, 16], [7], [5, 3], [64], [1]];

/** max |a-b| / max(1e-3, max |b|) (m and v are small numbers). */
const adamError = (a: ArrayLike<number>, b: ArrayLike<number>): number => relativeError(a, b, 1e-3);

let counter = 0;
function makeVariables(prefix: string): tf.Variable[] {
  counter += 1;
  return SHAPES.map((shape, i) =>
    tf.variable(
      tf.tensor(
        randomArray(
          shape.reduce((a, b) => a * b, 1),
          100 + i,
        ),
        shape,
      ),
      true,
      `${prefix}${counter}/w${i}`,
    ),
  );
}

/** What applyGradients takes (tfjs does not export NamedTensor from its root). */
type NamedTensors = Extract<Parameters<tf.Optimizer['applyGradients']>[0], unknown[]>;

function gradientsFor(vars: tf.Variable[], step: number): NamedTensors {
  return vars.map((v, i) => ({
    name: v.name,
    tensor: tf.tensor(randomArray(v.size, 1000 * step + i, 0.1 + step), v.shape),
  }));
}

/** One step of `optimizer` on `vars` with the gradients of `step` and learning rate lr. */
function step(optimizer: tf.Optimizer, vars: tf.Variable[], stepIndex: number, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
  const grads = gradientsFor(vars, stepIndex);
  optimizer.applyGradients(grads);
  tf.dispose(grads.map((g) => g.tensor));
}

const LRS = [0.01, 0.008, 0.005, 0.003, 0.001, 0.0005];

async function stateOf(optimizer: tf.Optimizer): Promise<{ name: string; values: Float32Array }[]> {
  const weights = await optimizer.getWeights();
  const out = weights.map((w) => ({
    name: w.name.replace(/^[a-z]+\d+\//, ''),
    values: w.tensor.dataSync() as Float32Array,
  }));
  for (const w of weights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  return out;
}

async function expectSameState(a: tf.Optimizer, b: tf.Optimizer, tolerance: number): Promise<void> {
  const sa = await stateOf(a);
  const sb = await stateOf(b);
  expect(sa.map((w) => w.name)).toEqual(sb.map((w) => w.name));
  sa.forEach((w, i) => expect(adamError(w.values, sb[i]!.values)).toBeLessThanOrEqual(tolerance));
}

function expectSameValues(a: tf.Variable[], b: tf.Variable[], tolerance: number): void {
  a.forEach((v, i) => expect(adamError(v.dataSync(), b[i]!.dataSync())).toBeLessThanOrEqual(tolerance));
}

/** A checkpoint's view of the optimizer: copies of its weights, as tensor-file reading gives them. */
async function snapshot(optimizer: tf.Optimizer): Promise<NamedTensors> {
  const weights = await optimizer.getWeights();
  const copies = weights.map((w) => ({
    name: w.name,
    tensor: tf.tensor(w.tensor.dataSync().slice(), w.tensor.shape, w.tensor.dtype),
  }));
  for (const w of weights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  return copies;
}

beforeAll(async () => {
  const info = await initBackend({ backend: 'wasm' });
  expect(info.kernels).toBe('braintune-wasm');
});

describe('fused Adam on wasm', () => {
  it('matches tf.train.adam over several steps, with a changing learning rate', async () => {
    tf.setBackend('wasm');
    const stockVars = makeVariables('stock');
    const fusedVars = makeVariables('fused');
    const stock = tf.train.adam(LRS[0]);
    const fused = fusedAdam(LRS[0]);
    expect(fused.getConfig()).toEqual(stock.getConfig());
    LRS.forEach((lr, s) => {
      step(stock, stockVars, s, lr);
      step(fused, fusedVars, s, lr);
    });
    expectSameValues(fusedVars, stockVars, 1e-5);
    await expectSameState(fused, stock, 1e-5);
    expect(fused.iterations).toBe(LRS.length);
    tf.dispose([...stockVars, ...fusedVars]);
    stock.dispose();
    fused.dispose();
  });

  it('matches tf.train.adam when the variables are conv and matmul weights (XNNPACK caches them)', () => {
    tf.setBackend('wasm');
    const x = tf.tensor4d(randomArray(2 * 6 * 6 * 3, 7), [2, 6, 6, 3]);
    const runs = (['stock', 'fused'] as const).map((kind) => {
      counter += 1;
      const filter = tf.variable(
        tf.tensor4d(randomArray(3 * 3 * 3 * 4, 11), [3, 3, 3, 4]),
        true,
        `f${kind}${counter}`,
      );
      const dense = tf.variable(tf.tensor2d(randomArray(144 * 5, 13), [144, 5]), true, `d${kind}${counter}`);
      const optimizer = kind === 'stock' ? tf.train.adam(0.05) : fusedAdam(0.05);
      const losses: number[] = [];
      for (let s = 0; s < 4; s++) {
        // Each step's forward pass must see the previous step's weights.
        const cost = optimizer.minimize(
          () => tf.sum(tf.square(tf.matMul(tf.reshape(tf.conv2d(x, filter, 1, 'same'), [2, 144]), dense))),
          true,
          [filter, dense],
        );
        losses.push(cost!.dataSync()[0]!);
        cost!.dispose();
      }
      const result = { losses, values: [filter.dataSync().slice(), dense.dataSync().slice()] };
      tf.dispose([filter, dense]);
      optimizer.dispose();
      return result;
    });
    const [stock, fused] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(adamError(fused.losses, stock.losses)).toBeLessThanOrEqual(1e-5);
    fused.values.forEach((v, i) => expect(adamError(v, stock.values[i]!)).toBeLessThanOrEqual(1e-5));
    x.dispose();
  });

  it('runs no tfjs kernels and leaks no tensors or buffers', async () => {
    tf.setBackend('wasm');
    const vars = makeVariables('leak');
    const fused = fusedAdam(0.01);
    step(fused, vars, 0, 0.01); // creates m and v
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    const grads = gradientsFor(vars, 1);
    const profile = await tf.profile(() => fused.applyGradients(grads));
    tf.dispose(grads.map((g) => g.tensor));
    // The new values are written into fresh buffers directly: no tfjs kernel runs.
    expect(profile.kernels.map((k) => k.name)).toEqual([]);
    for (let s = 2; s < 5; s++) step(fused, vars, s, 0.01);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(buffers);
    tf.dispose(vars);
    fused.dispose();
  });

  it('does not change a tensor that shares a variable buffer (zero-copy clone)', () => {
    tf.setBackend('wasm');
    const vars = makeVariables('shared');
    const before = vars.map((v) => v.dataSync().slice());
    const clones = vars.map((v) => v.clone());
    const fused = fusedAdam(0.01);
    step(fused, vars, 0, 0.01);
    step(fused, vars, 1, 0.01);
    clones.forEach((c, i) => expect(Array.from(c.dataSync())).toEqual(Array.from(before[i]!)));
    expect(adamError(vars[0]!.dataSync(), before[0]!)).toBeGreaterThan(0);
    tf.dispose([...vars, ...clones]);
    fused.dispose();
  });

  it('resumes exactly from its own getWeights and from a stock optimizer’s', async () => {
    tf.setBackend('wasm');
    const a = makeVariables('a');
    const resumed = makeVariables('b');
    const fromStock = makeVariables('c');
    const stock = tf.train.adam(0.01);
    const original = fusedAdam(0.01);
    for (let s = 0; s < 3; s++) {
      step(original, a, s, LRS[s]!);
      step(stock, fromStock, s, LRS[s]!);
    }
    // Copy the trained values into the other variables, as a checkpoint restore would.
    resumed.forEach((v, i) => v.assign(tf.tensor(a[i]!.dataSync().slice(), v.shape)));
    fromStock.forEach((v, i) => v.assign(tf.tensor(a[i]!.dataSync().slice(), v.shape)));
    const restoredOwn = fusedAdam(0.01);
    const restoredStock = fusedAdam(0.01);
    const own = await snapshot(original);
    const stockState = await snapshot(stock);
    await restoredOwn.setWeights(own);
    await restoredStock.setWeights(stockState);
    tf.dispose([...own, ...stockState].map((w) => w.tensor));
    expect(restoredOwn.iterations).toBe(3);
    for (let s = 3; s < LRS.length; s++) {
      step(original, a, s, LRS[s]!);
      step(restoredOwn, resumed, s, LRS[s]!);
    }
    expectSameValues(resumed, a, 0);
    await expectSameState(restoredOwn, original, 0);
    // The stock optimizer's state drives the fused one like its own (its moments differ from
    // `a`'s only by float rounding, so compare loosely).
    for (let s = 3; s < LRS.length; s++) step(restoredStock, fromStock, s, LRS[s]!);
    expectSameValues(fromStock, a, 1e-4);
    tf.dispose([...a, ...resumed, ...fromStock]);
    [stock, original, restoredOwn, restoredStock].forEach((o) => o.dispose());
  });
});

describe('fused Adam off wasm', () => {
  it('is the stock optimizer on the cpu backend', async () => {
    tf.setBackend('cpu');
    try {
      const stockVars = makeVariables('cpustock');
      const fusedVars = makeVariables('cpufused');
      const stock = tf.train.adam(0.01);
      const fused = fusedAdam(0.01);
      LRS.forEach((lr, s) => {
        step(stock, stockVars, s, lr);
        step(fused, fusedVars, s, lr);
      });
      expectSameValues(fusedVars, stockVars, 0);
      await expectSameState(fused, stock, 0);
      tf.dispose([...stockVars, ...fusedVars]);
      stock.dispose();
      fused.dispose();
    } finally {
      tf.setBackend('wasm');
    }
  });
});
