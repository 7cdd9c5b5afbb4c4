export {
  initBackend,
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  type InitBackendOptions,
} from './init-backend.js';
export {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  stockWasmKernel,
  BRAINTUNE_WASM_KERNEL_NAMES,
  type BraintuneWasmKernelName,
} from './register-wasm-kernels.js';
export { setFilterGradMethod, type FilterGradMethod } from './wasm-conv-grads.js';
export { setMaxPoolGradSimd } from './wasm-pool-grads.js';
