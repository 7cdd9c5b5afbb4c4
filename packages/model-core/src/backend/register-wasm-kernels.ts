/**
 * Swaps braintune's training kernels into the wasm backend's kernel registry.
 *
 * Run after the wasm backend is initialised: the stock kernels' setup functions (which bind
 * their C++ entry points) have run by then, so the stock configs kept in {@link stockWasmKernel}
 * stay callable (wrappers delegate to them; benchmarks compare against them).
 */
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { makeAddWasmConfig } from './wasm-bias-add.js';
import { conv2dBackpropFilterWasmConfig, conv2dBackpropInputWasmConfig } from './wasm-conv-grads.js';
import { makeCastWasmConfig, makeIdentityWasmConfig } from './wasm-identity.js';
import { makeBatchMatMulWasmConfig } from './wasm-matmul.js';
import { maxPoolGradWasmConfig } from './wasm-pool-grads.js';
import { makeTransposeWasmConfig } from './wasm-transpose.js';
import { makeSumWasmConfig } from './wasm-reduce.js';

/** Names of the wasm kernels braintune adds or replaces. */
export const BRAINTUNE_WASM_KERNEL_NAMES = [
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'MaxPoolGrad',
  'BatchMatMul',
  'Identity',
  'Cast',
  'Sum',
  'Add',
  'Transpose',
] as const;
export type BraintuneWasmKernelName = (typeof BRAINTUNE_WASM_KERNEL_NAMES)[number];

const stockKernels = new Map<string, KernelConfig>();
const ours = new Map<string, KernelConfig>();

function requireKernel(name: string): KernelConfig {
  const k = getKernel(name, 'wasm');
  if (k === undefined) throw new Error(`braintune wasm kernels: the wasm backend has no ${name} kernel`);
  return k;
}

function build(name: BraintuneWasmKernelName, stock: KernelConfig | undefined): KernelConfig {
  const requireStock = (): KernelConfig => {
    if (stock === undefined)
      throw new Error(`braintune wasm kernels: the wasm backend has no ${name} kernel`);
    return stock;
  };
  switch (name) {
    case 'Conv2DBackpropInput':
      return conv2dBackpropInputWasmConfig;
    case 'Conv2DBackpropFilter':
      return conv2dBackpropFilterWasmConfig;
    case 'MaxPoolGrad':
      return maxPoolGradWasmConfig;
    case 'BatchMatMul':
      return makeBatchMatMulWasmConfig(requireStock(), requireKernel);
    case 'Identity':
      return makeIdentityWasmConfig(requireStock());
    case 'Cast':
      return makeCastWasmConfig(requireStock());
    case 'Sum':
      return makeSumWasmConfig(requireStock());
    case 'Add':
      return makeAddWasmConfig(requireStock());
    case 'Transpose':
      return makeTransposeWasmConfig(requireStock());
  }
}

/** The wasm backend's own kernel we replaced (undefined when wasm had none, e.g. Conv2DBackpropFilter). */
export function stockWasmKernel(kernelName: string): KernelConfig | undefined {
  return stockKernels.get(kernelName);
}

/** Registers braintune's kernels on 'wasm' (idempotent). Returns the names newly registered. */
export function registerWasmTrainingKernels(): string[] {
  const names: string[] = [];
  for (const name of BRAINTUNE_WASM_KERNEL_NAMES) {
    const existing = getKernel(name, 'wasm');
    const mine = ours.get(name);
    if (mine !== undefined && existing?.kernelFunc === mine.kernelFunc) continue;
    if (existing !== undefined) {
      if (!stockKernels.has(name)) stockKernels.set(name, existing);
      unregisterKernel(name, 'wasm');
    }
    const config = mine ?? build(name, stockKernels.get(name));
    ours.set(name, config);
    registerKernel(config);
    names.push(name);
  }
  return names;
}

/** Puts the stock wasm kernels back (for comparisons); wasm has no Conv2DBackpropFilter of its own. */
export function unregisterWasmTrainingKernels(): void {
  for (const name of BRAINTUNE_WASM_KERNEL_NAMES) {
    const mine = ours.get(name);
    if (mine === undefined || getKernel(name, 'wasm')?.kernelFunc !== mine.kernelFunc) continue;
    unregisterKernel(name, 'wasm');
    const stock = stockKernels.get(name);
    if (stock !== undefined) registerKernel(stock);
  }
}
