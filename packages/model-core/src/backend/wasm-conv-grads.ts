/**
 * Fast convolution gradients for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel at all and its
 * `Conv2DBackpropInput` is a naive C++ loop (~10× slower than a conv2d of the same size).
 * Both gradients are re-expressed here as ordinary convolutions / matrix products so that
 * they run on wasm's XNNPACK-backed `Conv2D` and `BatchMatMul` kernels:
 *
 * - dx = conv2d(dy dilated by the stride, filter rotated 180° with in/out channels swapped)
 * - dW = chunked im2col (shifted rows of x copied on the wasm heap) × dy, summed over chunks
 *   (alternative kept for comparison: conv2d of x with batch and channels swapped by dy used as
 *   a filter dilated by the stride)
 * (measured alternatives and the choice: bench/kernels.ts and {@link chooseFilterGradMethod}).
 *
 * The kernel functions call other wasm kernels directly (not tf ops): they work on
 * `TensorInfo`s and dispose every intermediate with `backend.disposeData`, like the
 * stock wasm kernels do, so nothing is recorded on the gradient tape and nothing leaks.
 */
import {
  backend_util,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

import { heapWithOffset, type WasmBackendLike, type WasmKernelArgs } from './wasm-heap.js';
import { simdKernels } from './wasm-simd.js';

const WASM = 'wasm';

type PadSpec = 'same' | 'valid' | number | backend_util.ExplicitPadding;
type DimRounding = 'floor' | 'round' | 'ceil' | undefined;

interface ConvGradAttrs {
  strides: number | [number, number];
  pad: PadSpec;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode: DimRounding;
  dilations?: number | [number, number];
}

/** Runs another registered wasm kernel on tensor infos (no tape, no engine bookkeeping). */
function runWasmKernel(
  name: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
  backend: WasmBackendLike,
): TensorInfo {
  const kernel = getKernel(name, WASM);
  if (kernel === undefined) throw new Error(`braintune wasm kernels: the wasm backend has no ${name} kernel`);
  const out = kernel.kernelFunc({ inputs, attrs, backend });
  if (Array.isArray(out)) throw new Error(`braintune wasm kernels: ${name} returned several outputs`);
  return out;
}

/** Owns the intermediates of one kernel call and frees them all at the end. */
class Scratch {
  private readonly owned: TensorInfo[] = [];
  constructor(readonly backend: WasmBackendLike) {}
  run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const out = runWasmKernel(name, inputs, attrs, this.backend);
    this.owned.push(out);
    return out;
  }
  /** Makes this scratch space responsible for disposing `t`. */
  adopt(t: TensorInfo): void {
    this.owned.push(t);
  }
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }
  /** Hands `result` to the caller: it is not disposed with the rest. */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.owned) if (t !== result) this.backend.disposeData(t.dataId);
    return result;
  }
  dispose(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
  }
}

function assertSupported(kernel: string, attrs: ConvGradAttrs): void {
  if (attrs.dataFormat === 'NCHW') {
    throw new Error(`braintune ${kernel} on wasm supports NHWC (channelsLast) only, got NCHW`);
  }
  const d = attrs.dilations;
  if (d !== undefined && !(d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1))) {
    throw new Error(`braintune ${kernel} on wasm supports dilation 1 only, got ${JSON.stringify(d)}`);
  }
}

function convInfoFor(xShape: number[], filterShape: number[], attrs: ConvGradAttrs): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** Explicit NHWC padding for a conv2d call. */
function explicitPad(top: number, bottom: number, left: number, right: number): backend_util.ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * Crops rows/columns of an NHWC tensor where a computed padding came out negative, so that the
 * following conv2d only sees non-negative padding. Returns the tensor and the clamped pads.
 */
function cropForNegativePads(
  s: Scratch,
  x: TensorInfo,
  pads: { top: number; bottom: number; left: number; right: number },
): { x: TensorInfo; pads: { top: number; bottom: number; left: number; right: number } } {
  const cropTop = Math.max(0, -pads.top);
  const cropBottom = Math.max(0, -pads.bottom);
  const cropLeft = Math.max(0, -pads.left);
  const cropRight = Math.max(0, -pads.right);
  if (cropTop + cropBottom + cropLeft + cropRight === 0) return { x, pads };
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const cropped = s.run(
    'Slice',
    { x },
    { begin: [0, cropTop, cropLeft, 0], size: [n, h - cropTop - cropBottom, w - cropLeft - cropRight, c] },
  );
  return {
    x: cropped,
    pads: {
      top: Math.max(0, pads.top),
      bottom: Math.max(0, pads.bottom),
      left: Math.max(0, pads.left),
      right: Math.max(0, pads.right),
    },
  };
}

/**
 * Inserts (stride-1) zeros between the rows and columns of dy: [N,oh,ow,C] → [N,oh*sh,ow*sw,C]
 * (the trailing sh-1 rows / sw-1 columns are zeros too; callers account for them as padding).
 */
function dilateByStride(s: Scratch, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [n, oh, ow, c] = dy.shape as [number, number, number, number];
  const six = s.reshape(dy, [n, oh, 1, ow, 1, c]);
  const padded = s.run(
    'PadV2',
    { x: six },
    {
      paddings: [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  return s.reshape(padded, [n, oh * sh, ow * sw, c]);
}

/**
 * [kh,kw,inC,outC] → rotated 180° and [kh,kw,outC,inC], in one pass over the heap (the filter is
 * small; the stock Transpose + Reverse pair cost ~1 ms per call in kernel overhead).
 */
function rotateAndSwapFilter(s: Scratch, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const out = s.backend.makeOutput([kh, kw, co, ci], 'float32');
  s.adopt(out);
  const { heap, at: src } = heapWithOffset(s.backend, filter);
  const dst = heapWithOffset(s.backend, out).at;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = src + ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
      const to = dst + (i * kw + j) * co * ci;
      for (let o = 0; o < co; o++)
        for (let c = 0; c < ci; c++) heap[to + o * ci + c] = heap[from + c * co + o]!;
    }
  }
  return out;
}

/** dx of a conv2d, as a stride-1 conv2d of the stride-dilated dy with the rotated, transposed filter. */
export function conv2dBackpropInputWasm(args: WasmKernelArgs): TensorInfo {
  const { backend } = args;
  const attrs = args.attrs as unknown as ConvGradAttrs & { inputShape: number[] };
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  assertSupported('Conv2DBackpropInput', attrs);
  const info = convInfoFor(attrs.inputShape, filter.shape, attrs);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight, inWidth } = info;
  const { outHeight: oh, outWidth: ow } = info;
  const s = new Scratch(backend);
  try {
    // [kh,kw,inC,outC] → rotated 180° and [kh,kw,outC,inC]
    const rotated = rotateAndSwapFilter(s, filter);
    const dilated = sh === 1 && sw === 1 ? dy : dilateByStride(s, dy, sh, sw);
    // Rows of `dilated`: (oh-1)*sh+1 real ones + (sh-1) trailing zeros.
    const top = kh - 1 - info.padInfo.top;
    const left = kw - 1 - info.padInfo.left;
    const bottom = inHeight + kh - 1 - oh * sh - top;
    const right = inWidth + kw - 1 - ow * sw - left;
    const cropped = cropForNegativePads(s, dilated, { top, bottom, left, right });
    const p = cropped.pads;
    const dx = s.run('Conv2D', { x: cropped.x, filter: rotated }, {
      strides: [1, 1],
      pad: explicitPad(p.top, p.bottom, p.left, p.right),
      dilations: [1, 1],
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap);
    return s.finish(dx);
  } catch (err) {
    s.dispose();
    throw err;
  }
}

/** How dW is computed; `auto` uses the formulation measured fastest (see {@link chooseFilterGradMethod}). */
export type FilterGradMethod = 'auto' | 'conv' | 'im2col';
let filterGradMethod: FilterGradMethod = 'auto';

/** For benchmarks and tests: force one dW formulation. */
export function setFilterGradMethod(method: FilterGradMethod): void {
  filterGradMethod = method;
}

/**
 * dW via conv2d: x as [inC, H, W, N] (batch becomes the channel axis) convolved with dy as a
 * [oh, ow, N, outC] filter dilated by the stride gives [inC, kh, kw, outC].
 */
function filterGradByConv(
  s: Scratch,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight, inWidth } = info;
  const { outHeight: oh, outWidth: ow } = info;
  const xT = s.run('Transpose', { x }, { perm: [3, 1, 2, 0] });
  const dyT = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Output rows = inH + top + bottom - ((oh-1)*sh + 1) + 1 must equal kh.
  const bottom = kh + (oh - 1) * sh - inHeight - top;
  const right = kw + (ow - 1) * sw - inWidth - left;
  const cropped = cropForNegativePads(s, xT, { top, bottom, left, right });
  const p = cropped.pads;
  const g = s.run('Conv2D', { x: cropped.x, filter: dyT }, {
    strides: [1, 1],
    pad: explicitPad(p.top, p.bottom, p.left, p.right),
    dilations: [sh, sw],
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
  } as unknown as NamedAttrMap);
  return s.run('Transpose', { x: g }, { perm: [1, 2, 0, 3] });
}

/** Up to this many im2col rows (kh·kw·inC), dW is accumulated by a SIMD loop instead of GEMMs (measured: 9). */
const DIRECT_MAX_ROWS = 27;

function heapF32Of(backend: WasmBackendLike, info: TensorInfo): Float32Array {
  const { heap, at } = heapWithOffset(backend, info);
  return heap.subarray(at, at + info.shape.reduce((a, b) => a * b, 1));
}

/** Output pixels per im2col chunk: keeps each matrix product's operands cache-sized (measured: 4096). */
const IM2COL_CHUNK_PIXELS = 4096;

/**
 * dW via im2col and matrix products. x is first laid out as channel planes
 * [inC, N*H*W]; then, chunk by chunk of output pixels, the kh*kw*inC shifted rows of those
 * planes are copied (row by row with `copyWithin` for stride 1, element by element otherwise,
 * straight on the wasm heap) into a
 * [kh*kw*inC, chunk] matrix that multiplies the matching rows of dy [chunk, outC]. Chunking
 * matters: one product over all N*oh*ow pixels is memory-bound in XNNPACK (its GEMM does not
 * block the long inner dimension) and ~1.6× slower.
 */
function filterGradByIm2col(
  s: Scratch,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const {
    strideHeight: sh,
    strideWidth: sw,
    filterHeight: kh,
    filterWidth: kw,
    inHeight: H,
    inWidth: W,
  } = info;
  const { outHeight: oh, outWidth: ow, batchSize: n, inChannels: ci, outChannels: co } = info;
  const { top, left } = info.padInfo;
  const backend = s.backend;
  const planes = ci === 1 ? x : s.run('Transpose', { x: s.reshape(x, [n * H * W, ci]) }, { perm: [1, 0] });
  const rows = kh * kw * ci;
  const simd = simdKernels(backend);
  const rowsPerChunk = Math.max(1, Math.floor(IM2COL_CHUNK_PIXELS / ow));
  const totalRows = n * oh; // output image rows, over the whole batch
  // Few rows (a first layer: 3×3×1): accumulate the products in a SIMD loop reading dy in place;
  // XNNPACK's GEMM spends most of its time packing each dy chunk when M is this small.
  const direct = simd !== undefined && rows <= DIRECT_MAX_ROWS && co % 16 === 0;
  let acc: TensorInfo | undefined;
  if (direct) {
    acc = backend.makeOutput([1, rows, co], 'float32');
    heapF32Of(backend, acc).fill(0);
  }
  try {
    for (let g0 = 0; g0 < totalRows; g0 += rowsPerChunk) {
      const g1 = Math.min(totalRows, g0 + rowsPerChunk);
      const pixels = (g1 - g0) * ow;
      const cols = backend.makeOutput([1, rows, pixels], 'float32');
      const dyChunk = direct ? undefined : backend.makeOutput([1, pixels, co], 'float32');
      try {
        const { heap, at: colsAt } = heapWithOffset(backend, cols);
        const planesAt = heapWithOffset(backend, planes).at;
        const dyAt = heapWithOffset(backend, dy).at;
        if (dyChunk !== undefined)
          heap.copyWithin(heapWithOffset(backend, dyChunk).at, dyAt + g0 * ow * co, dyAt + g1 * ow * co);
        // The wasm row copies write the padding zeros themselves; otherwise zero everything first.
        const wasmRows = simd !== undefined && sw === 1;
        if (!wasmRows) heap.fill(0, colsAt, colsAt + rows * pixels);
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            // Output columns c whose input column c*sw + j - left lies inside x.
            const cFirst = Math.max(0, Math.ceil((left - j) / sw));
            const cLast = Math.min(ow, Math.floor((W - 1 + left - j) / sw) + 1); // exclusive
            if (cLast <= cFirst) {
              if (wasmRows) {
                const tapAt = colsAt + (i * kw + j) * ci * pixels;
                heap.fill(0, tapAt, tapAt + ci * pixels);
              }
              continue;
            }
            const len = cLast - cFirst;
            // Output rows whose input row yr*sh + i - top lies inside x.
            const yrFirst = Math.max(0, Math.ceil((top - i) / sh));
            const yrLast = Math.min(oh, Math.floor((H - 1 + top - i) / sh) + 1); // exclusive
            for (let c = 0; c < ci; c++) {
              const rowAt = colsAt + ((i * kw + j) * ci + c) * pixels;
              const planeAt = planesAt + c * n * H * W;
              if (wasmRows) {
                // One wasm call per image in the chunk instead of one copyWithin per row; rows whose
                // input row is padding are zero-filled here, padding columns by copyRows.
                for (let b = Math.floor(g0 / oh); b * oh < g1; b++) {
                  const imageFirst = Math.max(g0, b * oh);
                  const imageLast = Math.min(g1, (b + 1) * oh);
                  const gFirst = Math.max(imageFirst, b * oh + yrFirst);
                  const gLast = Math.max(gFirst, Math.min(imageLast, b * oh + yrLast));
                  heap.fill(0, rowAt + (imageFirst - g0) * ow, rowAt + (gFirst - g0) * ow);
                  heap.fill(0, rowAt + (gLast - g0) * ow, rowAt + (imageLast - g0) * ow);
                  if (gLast === gFirst) continue;
                  const xr = (gFirst - b * oh) * sh + i - top;
                  const from = planeAt + (b * H + xr) * W + (cFirst + j - left);
                  const to = rowAt + (gFirst - g0) * ow + cFirst;
                  simd.copyRows(
                    4 * to,
                    4 * from,
                    gLast - gFirst,
                    4 * len,
                    4 * ow,
                    4 * sh * W,
                    4 * cFirst,
                    4 * (ow - cLast),
                  );
                }
                continue;
              }
              for (let g = g0; g < g1; g++) {
                const b = Math.floor(g / oh);
                const xr = (g % oh) * sh + i - top;
                if (xr < 0 || xr >= H) continue;
                const from = planeAt + (b * H + xr) * W + (cFirst * sw + j - left);
                const to = rowAt + (g - g0) * ow + cFirst;
                if (sw === 1) heap.copyWithin(to, from, from + len);
                else for (let t = 0; t < len; t++) heap[to + t] = heap[from + t * sw]!;
              }
            }
          }
        }
        if (dyChunk === undefined) {
          if (simd === undefined || acc === undefined) throw new Error('unreachable: direct dW without SIMD');
          simd.accumulateProducts(
            4 * colsAt,
            4 * (dyAt + g0 * ow * co),
            backend.getMemoryOffset(acc.dataId),
            rows,
            pixels,
            co,
          );
          continue;
        }
        const prod = runWasmKernel(
          'BatchMatMul',
          { a: cols, b: dyChunk },
          { transposeA: false, transposeB: false },
          s.backend,
        );
        if (acc === undefined) acc = prod;
        else {
          const sum = runWasmKernel('Add', { a: acc, b: prod }, {}, s.backend);
          s.backend.disposeData(acc.dataId);
          s.backend.disposeData(prod.dataId);
          acc = sum;
        }
      } finally {
        backend.disposeData(cols.dataId);
        if (dyChunk !== undefined) backend.disposeData(dyChunk.dataId);
      }
    }
  } catch (err) {
    if (acc !== undefined) backend.disposeData(acc.dataId);
    throw err;
  }
  if (acc === undefined) throw new Error('braintune Conv2DBackpropFilter: empty input');
  s.adopt(acc);
  return s.reshape(acc, [kh, kw, ci, co]);
}

/** The dW formulation to use: the one set with setFilterGradMethod, else the one measured fastest. */
export function chooseFilterGradMethod(): Exclude<FilterGradMethod, 'auto'> {
  if (filterGradMethod !== 'auto') return filterGradMethod;
  // Measured (CPU time, batch 32, seed CNN shapes at 64/128 px, 1×1/3×3/5×5, stride 1 and 2):
  // the chunked im2col beat the conv formulation in every case, by 1.1-1.5× for 3×3 and up to
  // 2.5× for a strided 1×1 projection; `conv` stays selectable for comparison.
  return 'im2col';
}

/** dW of a conv2d. */
export function conv2dBackpropFilterWasm(args: WasmKernelArgs): TensorInfo {
  const { backend } = args;
  const attrs = args.attrs as unknown as ConvGradAttrs & { filterShape: number[] };
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  assertSupported('Conv2DBackpropFilter', attrs);
  const info = convInfoFor(x.shape, attrs.filterShape, attrs);
  const s = new Scratch(backend);
  try {
    const method = chooseFilterGradMethod();
    const dW = method === 'conv' ? filterGradByConv(s, x, dy, info) : filterGradByIm2col(s, x, dy, info);
    return s.finish(dW);
  } catch (err) {
    s.dispose();
    throw err;
  }
}

export const conv2dBackpropInputWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: WASM,
  kernelFunc: conv2dBackpropInputWasm as unknown as KernelFunc,
};

export const conv2dBackpropFilterWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: WASM,
  kernelFunc: conv2dBackpropFilterWasm as unknown as KernelFunc,
};
