/**
 * The parts of tfjs-backend-wasm's BackendWasm our kernels use. The class is exported by the
 * package, but importing it as a value would load the wasm module; a structural type is enough.
 */
import type {
  DataType,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';

export interface WasmBackendLike extends KernelBackend {
  disposeData(dataId: object, force?: boolean): boolean;
  /** One more reference on a buffer (disposeData releases it only when none is left). */
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  /** Byte offset of a tensor's data on the wasm heap. */
  getMemoryOffset(dataId: object): number;
  wasm: { HEAPF32: Float32Array };
}

/**
 * The whole wasm heap as floats plus the float index where `info`'s data starts. Lets kernels move
 * rows with `copyWithin` (no subarray objects). Re-fetch after any allocation: the heap may grow.
 */
export function heapWithOffset(
  backend: WasmBackendLike,
  info: TensorInfo,
): { heap: Float32Array; at: number } {
  if (info.dtype !== 'float32')
    throw new Error(`braintune wasm kernels: expected float32, got ${info.dtype}`);
  return { heap: backend.wasm.HEAPF32, at: backend.getMemoryOffset(info.dataId) / 4 };
}

/** A Float32Array view of a float32 tensor on the wasm heap (re-fetch after any allocation: the heap may grow). */
export function heapF32(backend: WasmBackendLike, info: TensorInfo): Float32Array {
  if (info.dtype !== 'float32')
    throw new Error(`braintune wasm kernels: expected float32, got ${info.dtype}`);
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** What tfjs passes a kernel function, with the backend typed as wasm. */
export interface WasmKernelArgs {
  inputs: NamedTensorInfoMap;
  backend: WasmBackendLike;
  attrs?: NamedAttrMap;
}

/**
 * A wasm kernel config whose `kernelFunc` takes the place of `stock` and may hand a call back to it
 * with `callStock`. The stock setup function is kept: it binds the C++ entry points the stock
 * kernel calls.
 */
export function wrapStockWasmKernel(
  kernelName: string,
  stock: KernelConfig,
  kernelFunc: (args: WasmKernelArgs, callStock: (args: WasmKernelArgs) => TensorInfo) => TensorInfo,
): KernelConfig {
  const callStock = (args: WasmKernelArgs): TensorInfo =>
    stock.kernelFunc(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  const config: KernelConfig = {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ((args: Parameters<KernelFunc>[0]) =>
      kernelFunc(args as unknown as WasmKernelArgs, callStock)) as KernelFunc,
  };
  if (stock.setupFunc !== undefined) config.setupFunc = stock.setupFunc;
  return config;
}
