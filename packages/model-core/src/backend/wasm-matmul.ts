/**
 * BatchMatMul wrapper for the wasm backend.
 *
 * The stock kernel reaches XNNPACK only when `transposeA` is false, and it packs operand b as
 * the "weights" on every call. Both gradients of a dense layer hit its slow cases:
 * - dW = xᵀ·dy (transposeA): naive loop; an explicit transpose first is 17-45× faster.
 * - dx = dy·Wᵀ (transposeB, W large): computed as (W·dyᵀ)ᵀ so the small dy is the operand
 *   XNNPACK packs; 2.5-3.6× faster (CPU time, [32,64]·[4096..16384,64]ᵀ).
 */
import {
  backend_util,
  util,
  type KernelConfig,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { wrapStockWasmKernel } from './wasm-heap.js';

type Run = (name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap) => TensorInfo;

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

const batchSize = (shape: number[]): number => util.sizeFromShape(shape.slice(0, -2));

/** Builds the wrapper around the stock kernel (whose setup function has run with the backend's). */
export function makeBatchMatMulWasmConfig(
  stock: KernelConfig,
  kernel: (name: string) => KernelConfig,
): KernelConfig {
  return wrapStockWasmKernel('BatchMatMul', stock, (args, callStock) => {
    const { backend } = args;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const transposeA = attrs.transposeA === true;
    const transposeB = attrs.transposeB === true;
    const owned: TensorInfo[] = [];
    const run: Run = (name, inputs, kAttrs) => {
      const out = (name === 'BatchMatMul' ? stock : kernel(name)).kernelFunc({
        inputs,
        backend,
        attrs: kAttrs,
      }) as TensorInfo;
      owned.push(out);
      return out;
    };
    const release = (keep: TensorInfo): TensorInfo => {
      for (const t of owned) if (t !== keep) backend.disposeData(t.dataId);
      return keep;
    };
    try {
      if (transposeA) {
        const aT = run('Transpose', { x: a }, { perm: swapLastTwo(a.shape.length) });
        return release(run('BatchMatMul', { a: aT, b }, { transposeA: false, transposeB }));
      }
      const m = a.shape[a.shape.length - 2]!;
      const k = a.shape[a.shape.length - 1]!;
      const n = b.shape[b.shape.length - 2]!;
      if (transposeB && batchSize(a.shape) === 1 && batchSize(b.shape) === 1 && n > m) {
        // a·bᵀ = (b·aᵀ)ᵀ with b [n,k] as the streamed operand and aᵀ [k,m] as the packed one.
        const a2 = run('Reshape', { x: a }, { shape: [m, k] });
        const aT = run('Transpose', { x: a2 }, { perm: [1, 0] });
        const b3 = run('Reshape', { x: b }, { shape: [1, n, k] });
        const prod = run(
          'BatchMatMul',
          { a: b3, b: run('Reshape', { x: aT }, { shape: [1, k, m] }) },
          { transposeA: false, transposeB: false },
        );
        const out = run('Transpose', { x: run('Reshape', { x: prod }, { shape: [n, m] }) }, { perm: [1, 0] });
        // Same output shape as the stock kernel: broadcast batch dims (all 1 here), then [m, n].
        const outer = backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
        return release(run('Reshape', { x: out }, { shape: [...outer, m, n] }));
      }
      return callStock(args);
    } catch (err) {
      for (const t of owned) backend.disposeData(t.dataId);
      throw err;
    }
  });
}
