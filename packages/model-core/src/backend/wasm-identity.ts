/**
 * Zero-copy Identity (and same-dtype Cast) for the wasm backend.
 *
 * The stock wasm kernels copy the whole buffer. The engine clones every tensor a gradient
 * function saves (`saveTensorsForBackwardMode`), so a training step of the seed CNN at 128 px
 * copied ~110 tensors (activations up to 33 MB): 19 ms of a 480 ms step. tfjs tensors are
 * immutable (a variable's assign swaps its dataId), so sharing the buffer and counting
 * references is what the cpu backend does, and what wasm's own Reshape already does.
 */
import type {
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from './wasm-heap.js';

interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** A new TensorInfo sharing x's buffer (one more reference on it). */
function share(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

export function makeIdentityWasmConfig(stock: KernelConfig): KernelConfig {
  const kernelFunc = (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    // Strings live outside the heap: the stock kernel handles them.
    if (x.dtype === 'string') return stock.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
    return share(args.backend as WasmBackendLike, x);
  };
  return { kernelName: 'Identity', backendName: 'wasm', kernelFunc: kernelFunc as unknown as KernelFunc };
}

/** Cast to the tensor's own dtype shares the buffer; real conversions go to the stock kernel. */
export function makeCastWasmConfig(stock: KernelConfig): KernelConfig {
  const kernelFunc = (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const dtype = (args.attrs as { dtype?: string } | undefined)?.dtype;
    if (dtype === x.dtype && dtype !== 'string') return share(args.backend as WasmBackendLike, x);
    return stock.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
  };
  const config: KernelConfig = {
    kernelName: 'Cast',
    backendName: 'wasm',
    kernelFunc: kernelFunc as unknown as KernelFunc,
  };
  if (stock.setupFunc !== undefined) config.setupFunc = stock.setupFunc;
  return config;
}
