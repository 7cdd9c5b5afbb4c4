/**
 * Adam with one fused pass per variable on the wasm backend.
 *
 * tf.AdamOptimizer runs ~10 tfjs ops per variable and step (mul, add, square, div, sqrt,
 * assign…): ~160 kernel calls per step for the seed CNN, each with engine bookkeeping and a
 * fresh heap buffer. This subclass keeps everything of tf.AdamOptimizer (its moment variables
 * and their names, accBeta1/accBeta2, getWeights/setWeights, dispose, getConfig, className
 * 'Adam') and only replaces `applyGradients`: on wasm, one SIMD loop per variable updates m and
 * v in place on the heap and writes the new value to a fresh buffer, with the same float32
 * operations in the same order, so the results match the stock optimizer and checkpoints stay
 * interchangeable. Off wasm (or without wasm SIMD) it is the stock optimizer.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { simdKernels, type SimdKernels } from './wasm-simd.js';
import type { WasmBackendLike } from './wasm-heap.js';

/** tf.AdamOptimizer's state fields (TypeScript-private there, plain properties at run time). */
interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

/** What `applyGradients` receives (tfjs does not export the NamedTensor type from its root). */
type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

const bitsView = new DataView(new ArrayBuffer(4));
/** The float32 bit pattern of v (as the i32 the SIMD loop splats). */
function f32Bits(v: number): number {
  bitsView.setFloat32(0, v, true);
  return bitsView.getInt32(0, true);
}

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon: number | null = null) {
    // tf.train.adam's defaults; a null epsilon becomes the backend's (1e-7), as in tfjs.
    super(learningRate, beta1, beta2, epsilon as number);
  }

  override applyGradients(variableGradients: VariableGradients): void {
    const backend = tf.backend() as WasmBackendLike;
    const kernels = tf.getBackend() === 'wasm' ? simdKernels(backend) : undefined;
    if (kernels === undefined || !this.allOnHeap(backend, variableGradients)) {
      super.applyGradients(variableGradients);
      return;
    }
    this.applyFused(variableGradients, backend, kernels);
  }

  /** Every tensor involved lives on this wasm backend's heap (refCount is 0 for data it does not hold). */
  private allOnHeap(backend: WasmBackendLike, variableGradients: VariableGradients): boolean {
    const self = this as unknown as AdamInternals;
    const registered = tf.engine().registeredVariables;
    const onHeap = (t: tf.Tensor | undefined): boolean =>
      t === undefined || (t.dtype === 'float32' && backend.refCount(t.dataId) > 0);
    const pairs = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor] as const)
      : Object.entries(variableGradients);
    return (
      onHeap(self.accBeta1) &&
      onHeap(self.accBeta2) &&
      [...self.accumulatedFirstMoment, ...self.accumulatedSecondMoment].every((s) => onHeap(s.variable)) &&
      pairs.every(([name, g]) => onHeap(g) && onHeap(registered[name]))
    );
  }

  private applyFused(
    variableGradients: VariableGradients,
    backend: WasmBackendLike,
    kernels: SimdKernels,
  ): void {
    const self = this as unknown as AdamInternals;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    const registered = tf.engine().registeredVariables;
    // Scalars exactly as tfjs makes them: float32 tensors of the JS numbers.
    const f = Math.fround;
    const beta1 = f(self.beta1);
    const beta2 = f(self.beta2);
    const accBeta1 = this.readScalar(backend, self.accBeta1);
    const accBeta2 = this.readScalar(backend, self.accBeta2);
    const params = [
      f32Bits(beta1),
      f32Bits(1 - self.beta1),
      f32Bits(beta2),
      f32Bits(1 - self.beta2),
      f32Bits(f(1 - accBeta1)), // sub(1, accBeta1) in float32
      f32Bits(f(1 - accBeta2)),
      f32Bits(self.epsilon),
      f32Bits(-self.learningRate),
    ] as const;

    names.forEach((name, i) => {
      const value = registered[name];
      if (value === undefined) throw new Error(`fused Adam: no variable named ${name}`);
      // Same lazily created state, names and indices as tf.AdamOptimizer.
      self.accumulatedFirstMoment[i] ??= {
        originalName: `${name}/m`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      };
      self.accumulatedSecondMoment[i] ??= {
        originalName: `${name}/v`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      };
      const gradient = Array.isArray(variableGradients)
        ? variableGradients[i]?.tensor
        : variableGradients[name];
      if (gradient == null) return;
      const m = self.accumulatedFirstMoment[i].variable;
      const v = self.accumulatedSecondMoment[i].variable;
      this.ownBuffer(backend, m);
      this.ownBuffer(backend, v);
      // The new value goes to a fresh buffer, as with stock Adam: the wasm backend's XNNPACK
      // convolution and matmul operators cache their packed weights by buffer id, so a weight
      // changed in place would keep being used with its old values.
      const out = backend.makeOutput(value.shape.slice(), 'float32');
      const n = value.size;
      const groups = n >>> 2;
      const at = (t: { dataId: object }): number => backend.getMemoryOffset(t.dataId);
      kernels.adamUpdate(at(out), at(value), at(m), at(v), at(gradient), groups, ...params);
      if (groups * 4 < n) this.updateTail(backend, out, value, m, v, gradient, groups * 4, params);
      const updated = tf.engine().makeTensorFromTensorInfo(out);
      value.assign(updated);
      updated.dispose();
    });
    this.writeScalar(backend, self.accBeta1, f(accBeta1 * beta1));
    this.writeScalar(backend, self.accBeta2, f(accBeta2 * beta2));
    this.incrementIterations();
  }

  /**
   * m and v are updated in place, which is only right when the variable is the buffer's sole owner.
   * Zero-copy Identity/Cast and `tensor.variable()` can share buffers; then copy first.
   */
  private ownBuffer(backend: WasmBackendLike, variable: tf.Variable): void {
    if (backend.refCount(variable.dataId) <= 1) return;
    const copy = backend.makeOutput(variable.shape.slice(), 'float32');
    const heap = backend.wasm.HEAPF32;
    const from = backend.getMemoryOffset(variable.dataId) / 4;
    heap.copyWithin(backend.getMemoryOffset(copy.dataId) / 4, from, from + variable.size);
    const tensor = tf.engine().makeTensorFromTensorInfo(copy);
    variable.assign(tensor);
    tensor.dispose();
  }

  /** Elements past the last group of 4, in float32 steps (sqrt of a float32 in float64 rounds right). */
  private updateTail(
    backend: WasmBackendLike,
    out: TensorInfo,
    value: tf.Variable,
    m: tf.Variable,
    v: tf.Variable,
    gradient: tf.Tensor,
    start: number,
    params: readonly number[],
  ): void {
    const f = Math.fround;
    const fromBits = (b: number): number => {
      bitsView.setInt32(0, b, true);
      return bitsView.getFloat32(0, true);
    };
    const [b1, c1, b2, c2, bc1, bc2, eps, nlr] = params.map(fromBits) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const heap = backend.wasm.HEAPF32;
    const po = backend.getMemoryOffset(out.dataId) / 4;
    const pv = backend.getMemoryOffset(value.dataId) / 4;
    const pm = backend.getMemoryOffset(m.dataId) / 4;
    const ps = backend.getMemoryOffset(v.dataId) / 4;
    const pg = backend.getMemoryOffset(gradient.dataId) / 4;
    for (let k = start; k < value.size; k++) {
      const g = heap[pg + k] as number;
      const mk = f(f(f(heap[pm + k] as number) * b1) + f(g * c1));
      const vk = f(f(f(heap[ps + k] as number) * b2) + f(f(g * g) * c2));
      heap[pm + k] = mk;
      heap[ps + k] = vk;
      const step = f(f(f(mk / bc1) / f(f(Math.sqrt(f(vk / bc2))) + eps)) * nlr);
      heap[po + k] = f(step + (heap[pv + k] as number));
    }
  }

  private readScalar(backend: WasmBackendLike, t: tf.Variable): number {
    return backend.wasm.HEAPF32[backend.getMemoryOffset(t.dataId) / 4] as number;
  }

  private writeScalar(backend: WasmBackendLike, t: tf.Variable, value: number): void {
    this.ownBuffer(backend, t);
    backend.wasm.HEAPF32[backend.getMemoryOffset(t.dataId) / 4] = value;
  }
}

/** Adam with tf.train.adam's signature and defaults, fused on wasm. */
export function fusedAdam(
  learningRate = 0.001,
  beta1 = 0.9,
  beta2 = 0.999,
  epsilon: number | null = null,
): tf.AdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
