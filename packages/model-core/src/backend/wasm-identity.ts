/**
 * Zero-copy Identity (and same-dtype Cast) for the wasm backend.
 *
 * The stock wasm kernels copy the whole buffer. The engine clones every tensor a gradient
 * function saves (`saveTensorsForBackwardMode`), so a training step of the seed CNN at 128 px
 * copied ~110 tensors (activations up to 33 MB): 19 ms of a 480 ms step. tfjs tensors are
 * immutable (a variable's assign swaps its dataId), so sharing the buffer and counting
 * references is what the cpu backend does, and what wasm's own Reshape already does.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { wrapStockWasmKernel, type WasmBackendLike } from './wasm-heap.js';

/** A new TensorInfo sharing x's buffer (one more reference on it). */
function share(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

export function makeIdentityWasmConfig(stock: KernelConfig): KernelConfig {
  return wrapStockWasmKernel('Identity', stock, (args, callStock) => {
    const { x } = args.inputs as { x: TensorInfo };
    // Strings live outside the heap: the stock kernel handles them.
    if (x.dtype === 'string') return callStock(args);
    return share(args.backend, x);
  });
}

/** Cast to the tensor's own dtype shares the buffer; real conversions go to the stock kernel. */
export function makeCastWasmConfig(stock: KernelConfig): KernelConfig {
  return wrapStockWasmKernel('Cast', stock, (args, callStock) => {
    const { x } = args.inputs as { x: TensorInfo };
    const dtype = (args.attrs as { dtype?: string } | undefined)?.dtype;
    if (dtype === x.dtype && dtype !== 'string') return share(args.backend, x);
    return callStock(args);
  });
}
