/**
 * Benchmarks braintune's wasm training kernels against the cpu backend (accuracy and time) and
 * against the stock wasm kernel where one exists, on the seed CNN's shapes at 64 and 128 px.
 *
 *   npm run bench:kernels [-- --quick]      (--quick: batch 8, fewer runs)
 *
 * Times are the median CPU time (process.cpuUsage) of several runs after a warm-up: the wasm
 * backend is single-threaded, and CPU time is far less disturbed than wall time when the other
 * core is busy. Human-readable lines first; the last stdout line is one JSON object.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  initBackend,
  setFilterGradMethod,
  stockWasmKernel,
  type FilterGradMethod,
} from '../packages/model-core/src/backend/index.js';

process.env.LOG_LEVEL ??= 'warn';
tf.env().set('IS_TEST', true); // silences tfjs's "use tfjs-node" banner on the cpu backend

const quick = process.argv.includes('--quick');
const batch = quick ? 8 : 32;
const WASM_RUNS = quick ? 3 : 7;
const CPU_RUNS = 1; // the cpu backend is 3-1000× slower: one run shows it

interface Input {
  data: Float32Array;
  shape: number[];
}
type Inputs = Record<string, Input>;

interface Row {
  kernel: string;
  case: string;
  shape: string;
  oursMs: number;
  cpuMs: number;
  stockWasmMs: number | null;
  speedupVsCpu: number;
  speedupVsStockWasm: number | null;
  maxAbsDiff: number;
  maxRelDiff: number;
  forwardMs?: number;
  alternativesMs?: Record<string, number>;
  /** The cpu time was measured on this many images and scaled to the batch (Δ compared there too). */
  cpuMsExtrapolatedFromImages?: number;
}

function randomArray(n: number, seed: number): Float32Array {
  // Small LCG: every run benchmarks the same numbers.
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const input = (shape: number[], seed: number): Input => ({
  data: randomArray(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ),
  shape,
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cpuMs(f: () => void): number {
  const t0 = process.cpuUsage();
  f();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

type Runner = (tensors: Record<string, tf.Tensor>) => Float32Array;

/** Runs `run` on `backendName`: one warm-up (unless runs is 1), then `runs` timed runs. */
function timeOn(
  backendName: string,
  run: Runner,
  inputs: Inputs,
  runs: number,
): { out: Float32Array; ms: number } {
  tf.setBackend(backendName);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) tensors[k] = tf.tensor(v.data, v.shape);
  let out: Float32Array = new Float32Array(0);
  if (runs > 1) out = run(tensors);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(cpuMs(() => (out = run(tensors))));
  for (const t of Object.values(tensors)) t.dispose();
  return { out, ms: median(times) };
}

/** Through the engine: whatever kernel is registered (ours on wasm). */
function viaEngine(
  kernel: string,
  attrs: Record<string, unknown>,
  extra?: (t: Record<string, tf.Tensor>) => Record<string, tf.Tensor>,
): Runner {
  return (tensors) => {
    const ins = extra ? { ...tensors, ...extra(tensors) } : tensors;
    const y = tf.engine().runKernel(kernel, ins, attrs as tf.NamedAttrMap) as tf.Tensor;
    const data = y.dataSync() as Float32Array;
    y.dispose();
    for (const [k, t] of Object.entries(ins)) if (!(k in tensors)) t.dispose();
    return data;
  };
}

/** The stock wasm kernel we replaced, called directly. */
function viaStock(
  kernel: string,
  attrs: Record<string, unknown>,
  extra?: (t: Record<string, tf.Tensor>) => Record<string, tf.Tensor>,
): Runner | undefined {
  const config = stockWasmKernel(kernel);
  if (config === undefined) return undefined;
  return (tensors) => {
    const ins = extra ? { ...tensors, ...extra(tensors) } : tensors;
    const backend = tf.backend() as tf.KernelBackend & { disposeData(id: object): boolean };
    const y = config.kernelFunc({ inputs: ins, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
    const data = (backend.readSync(y.dataId) as Float32Array).slice();
    backend.disposeData(y.dataId);
    for (const [k, t] of Object.entries(ins)) if (!(k in tensors)) t.dispose();
    return data;
  };
}

function diff(a: Float32Array, b: Float32Array): { abs: number; rel: number } {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    abs = Math.max(abs, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return { abs, rel: abs / Math.max(1, scale) };
}

const rows: Row[] = [];
const fmt = (ms: number): string => `${ms.toFixed(1).padStart(8)} ms`;

function record(
  kernel: string,
  label: string,
  shape: string,
  inputs: Inputs,
  attrs: Record<string, unknown>,
  opts: {
    extra?: (t: Record<string, tf.Tensor>) => Record<string, tf.Tensor>;
    forward?: { kernel: string; inputs: Inputs; attrs: Record<string, unknown> };
    alternatives?: Record<string, () => void>;
    restore?: () => void;
    /** Inputs and attrs of the first few images only: the cpu reference runs on these. */
    cpuSubset?: { inputs: Inputs; attrs: Record<string, unknown>; fraction: number };
  } = {},
): void {
  const sub = opts.cpuSubset;
  const cpuRaw = timeOn(
    'cpu',
    viaEngine(kernel, sub?.attrs ?? attrs, opts.extra),
    sub?.inputs ?? inputs,
    CPU_RUNS,
  );
  // The cpu backend's loops are linear in the batch: scale the subset time to the full batch.
  const cpu = { out: cpuRaw.out, ms: cpuRaw.ms / (sub?.fraction ?? 1) };
  const alternativesMs: Record<string, number> = {};
  for (const [name, select] of Object.entries(opts.alternatives ?? {})) {
    select();
    alternativesMs[name] = timeOn('wasm', viaEngine(kernel, attrs, opts.extra), inputs, WASM_RUNS).ms;
  }
  opts.restore?.();
  const ours = timeOn('wasm', viaEngine(kernel, attrs, opts.extra), inputs, WASM_RUNS);
  const stockRun = viaStock(kernel, attrs, opts.extra);
  const stock = stockRun ? timeOn('wasm', stockRun, inputs, Math.min(WASM_RUNS, 3)) : undefined;
  const forward = opts.forward
    ? timeOn('wasm', viaEngine(opts.forward.kernel, opts.forward.attrs), opts.forward.inputs, WASM_RUNS).ms
    : undefined;
  const oursForDiff = sub
    ? timeOn('wasm', viaEngine(kernel, sub.attrs, opts.extra), sub.inputs, 1).out
    : ours.out;
  const d = diff(oursForDiff, cpu.out);
  const row: Row = {
    kernel,
    case: label,
    shape,
    oursMs: ours.ms,
    cpuMs: cpu.ms,
    stockWasmMs: stock?.ms ?? null,
    speedupVsCpu: cpu.ms / ours.ms,
    speedupVsStockWasm: stock ? stock.ms / ours.ms : null,
    maxAbsDiff: d.abs,
    maxRelDiff: d.rel,
  };
  if (forward !== undefined) row.forwardMs = forward;
  if (sub) row.cpuMsExtrapolatedFromImages = Math.round(sub.fraction * batch);
  if (opts.alternatives) row.alternativesMs = alternativesMs;
  rows.push(row);
  const stockTxt = stock
    ? `stock-wasm ${fmt(stock.ms)} (×${(stock.ms / ours.ms).toFixed(1)})`
    : `stock-wasm ${'n/a'.padStart(11)}     `;
  const fwdTxt = forward !== undefined ? `  forward ${fmt(forward)}` : '';
  const altTxt = opts.alternatives
    ? `  [${Object.entries(alternativesMs)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}]`
    : '';
  const cpuNote = sub ? '*' : ' ';
  console.log(
    `${kernel.padEnd(21)} ${label.padEnd(16)} ${shape.padEnd(34)} ours ${fmt(ours.ms)}  cpu${cpuNote}${fmt(cpu.ms)} (×${row.speedupVsCpu.toFixed(0).padStart(4)})  ${stockTxt}${fwdTxt}  max|Δ| ${d.abs.toExponential(2)} rel ${d.rel.toExponential(2)}${altTxt}`,
  );
}

const info = await initBackend({ backend: 'wasm' });
// tfjs-backend-wasm hard-codes this flag to false in Node (tfjs issue #3830): one thread per
// process; parallelism comes from one worker process per core.
const wasmMultithreadFlag = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
console.log(
  `backend ${info.name} simd=${info.simd} threads=${info.threads} (WASM_HAS_MULTITHREAD_SUPPORT=${wasmMultithreadFlag}) kernels=${info.kernels}; batch ${batch}; median CPU ms of ${WASM_RUNS} wasm runs, ${CPU_RUNS} cpu run`,
);

// --- convolution gradients ---------------------------------------------------------------
interface ConvCase {
  label: string;
  x: [number, number, number, number];
  k: number;
  outC: number;
  stride: number;
  pad: 'same' | 'valid';
}
const CONVS: ConvCase[] = [
  // seed CNN at 128 px (3×3 same convs; max-pool halves the size between blocks)
  { label: 'seed128 conv1', x: [batch, 128, 128, 1], k: 3, outC: 16, stride: 1, pad: 'same' },
  { label: 'seed128 conv2', x: [batch, 64, 64, 16], k: 3, outC: 32, stride: 1, pad: 'same' },
  { label: 'seed128 conv3', x: [batch, 32, 32, 32], k: 3, outC: 64, stride: 1, pad: 'same' },
  // seed CNN at 64 px
  { label: 'seed64 conv1', x: [batch, 64, 64, 1], k: 3, outC: 16, stride: 1, pad: 'same' },
  { label: 'seed64 conv2', x: [batch, 32, 32, 16], k: 3, outC: 32, stride: 1, pad: 'same' },
  { label: 'seed64 conv3', x: [batch, 16, 16, 32], k: 3, outC: 64, stride: 1, pad: 'same' },
  // residual family: stride-2 downsampling conv and 1×1 projection; 5×5 kernels; odd size, valid
  { label: 'res stride2 3x3', x: [batch, 64, 64, 16], k: 3, outC: 32, stride: 2, pad: 'same' },
  { label: 'res stride2 1x1', x: [batch, 64, 64, 16], k: 1, outC: 32, stride: 2, pad: 'same' },
  { label: 'kernel 5x5', x: [batch, 32, 32, 16], k: 5, outC: 32, stride: 1, pad: 'same' },
  { label: 'odd valid 3x3', x: [batch, 63, 63, 8], k: 3, outC: 16, stride: 1, pad: 'valid' },
];

for (const [i, c] of CONVS.entries()) {
  const filterShape = [c.k, c.k, c.x[3], c.outC];
  const conv = tf.backend_util.computeConv2DInfo(
    c.x,
    filterShape as [number, number, number, number],
    c.stride,
    1,
    c.pad,
  );
  const x = input(c.x, 10 + i);
  const w = input(filterShape, 20 + i);
  const dy = input(conv.outShape, 30 + i);
  const shape = `${JSON.stringify(c.x)}→${c.outC} ${c.k}×${c.k} s${c.stride} ${c.pad}`;
  const common = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const forward = { kernel: 'Conv2D', inputs: { x, filter: w }, attrs: { ...common, dilations: 1 } };
  const methods: FilterGradMethod[] = ['conv', 'im2col'];
  // The cpu backend's Conv2DBackpropFilter needs 10-80 s per call at batch 32: its reference
  // (time and values) comes from the first 4 images.
  const subN = Math.min(batch, 4);
  const head = (v: Input): Input => ({
    data: v.data.subarray(0, (v.data.length / batch) * subN),
    shape: [subN, ...v.shape.slice(1)],
  });
  record(
    'Conv2DBackpropFilter',
    c.label,
    shape,
    { x, dy },
    { ...common, filterShape },
    {
      cpuSubset: {
        inputs: { x: head(x), dy: head(dy) },
        attrs: { ...common, filterShape },
        fraction: subN / batch,
      },
      forward,
      alternatives: Object.fromEntries(methods.map((m) => [m, () => setFilterGradMethod(m)])),
      restore: () => setFilterGradMethod('auto'),
    },
  );
  record(
    'Conv2DBackpropInput',
    c.label,
    shape,
    { dy, filter: w },
    { ...common, inputShape: c.x },
    { forward },
  );
}

// --- max-pool gradient (2×2, stride 2, valid: the seed CNN's pooling) ------------------------
const POOLS: { label: string; x: [number, number, number, number] }[] = [
  { label: 'seed128 pool1', x: [batch, 128, 128, 16] },
  { label: 'seed128 pool2', x: [batch, 64, 64, 32] },
  { label: 'seed64 pool1', x: [batch, 64, 64, 16] },
  { label: 'seed64 pool3', x: [batch, 16, 16, 64] },
];
for (const [i, p] of POOLS.entries()) {
  const pool = tf.backend_util.computePool2DInfo(p.x, 2, 2, 1, 'valid');
  const x = input(p.x, 40 + i);
  const dy = input(pool.outShape, 50 + i);
  const attrs = { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined };
  record('MaxPoolGrad', p.label, `${JSON.stringify(p.x)} 2×2 s2`, { input: x, dy }, attrs, {
    extra: (t) => ({ output: tf.maxPool(t.input as tf.Tensor4D, 2, 2, 'valid') }),
    forward: {
      kernel: 'MaxPool',
      inputs: { x },
      attrs: { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined },
    },
  });
}

// --- dense-layer gradients (flatten → 64 units at 64 px and 128 px) ------------------------------
for (const [i, k] of [4096, 16384].entries()) {
  const label = k === 4096 ? 'seed64 dense' : 'seed128 dense';
  const xIn = input([batch, k], 60 + i);
  const dy = input([batch, 64], 70 + i);
  const w = input([k, 64], 80 + i);
  const forward = {
    kernel: 'BatchMatMul',
    inputs: { a: xIn, b: w },
    attrs: { transposeA: false, transposeB: false },
  };
  record(
    'BatchMatMul',
    `${label} dW`,
    `xᵀ·dy [${batch},${k}]ᵀ·[${batch},64]`,
    { a: xIn, b: dy },
    { transposeA: true, transposeB: false },
    { forward },
  );
  record(
    'BatchMatMul',
    `${label} dx`,
    `dy·Wᵀ [${batch},64]·[${k},64]ᵀ`,
    { a: dy, b: w },
    { transposeA: false, transposeB: true },
    { forward },
  );
}

console.log(
  `* cpu Conv2DBackpropFilter: measured on ${Math.min(batch, 4)} images and scaled to ${batch}; Δ compared on those images`,
);
const worstRel = Math.max(...rows.map((r) => r.maxRelDiff));
console.log(
  `worst relative difference vs cpu: ${worstRel.toExponential(2)} (limit 1e-4, |Δ| / max(1, max|cpu|)) → ${worstRel <= 1e-4 ? 'OK' : 'FAIL'}`,
);
console.log(
  JSON.stringify({
    bench: 'kernels',
    wasmMultithreadFlag,
    backend: info,
    batch,
    timing: 'median CPU ms',
    worstRelDiff: worstRel,
    withinTolerance: worstRel <= 1e-4,
    rows,
  }),
);
