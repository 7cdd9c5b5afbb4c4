/**
 * Add for the wasm backend with a fast path for a bias: x [..., C] + b [C] (C % 4 = 0).
 *
 * During training tfjs-core does not fuse conv + bias + relu (it fuses only without a gradient
 * or with a linear activation), so every conv layer runs a broadcasting Add over its whole
 * activation; the stock kernel's generic broadcast took 6 ms for [32,128,128,16] + [16], 3× a
 * same-shape Add. A SIMD row loop does it at memory speed. Everything else goes to the stock kernel.
 */
import { util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { wrapStockWasmKernel } from './wasm-heap.js';
import { simdKernels } from './wasm-simd.js';

/** Below this many elements the stock kernel's call overhead is no worse. */
const MIN_ELEMENTS = 4096;

/** True when `v` broadcasts as one row over `x`'s last axis: v is [C] or [1, ..., 1, C]. */
function isRowVectorOf(v: TensorInfo, x: TensorInfo): boolean {
  const c = x.shape[x.shape.length - 1];
  if (c === undefined || x.shape.length < 2 || v.shape.length > x.shape.length) return false;
  if (v.shape[v.shape.length - 1] !== c) return false;
  return v.shape.slice(0, -1).every((d) => d === 1);
}

export function makeAddWasmConfig(stock: KernelConfig): KernelConfig {
  return wrapStockWasmKernel('Add', stock, (args, callStock) => {
    const { backend } = args;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const [x, v] = isRowVectorOf(b, a) ? [a, b] : isRowVectorOf(a, b) ? [b, a] : [undefined, undefined];
    const size = x === undefined ? 0 : util.sizeFromShape(x.shape);
    const c = x?.shape[x.shape.length - 1] ?? 0;
    if (
      x !== undefined &&
      v !== undefined &&
      x.dtype === 'float32' &&
      v.dtype === 'float32' &&
      c % 4 === 0 &&
      size >= MIN_ELEMENTS
    ) {
      const simd = simdKernels(backend);
      if (simd !== undefined) {
        const out = backend.makeOutput(x.shape.slice(), 'float32');
        const [outAt, xAt, vAt] = [out, x, v].map((t) => backend.getMemoryOffset(t.dataId)) as [
          number,
          number,
          number,
        ];
        simd.addRowVector(outAt, xAt, vAt, size / c, c / 4);
        return out;
      }
    }
    return callStock(args);
  });
}
