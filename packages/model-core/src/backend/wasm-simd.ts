/**
 * Hand-assembled WebAssembly SIMD loops that work directly on the wasm backend's heap.
 *
 * Some training kernels are simple element-wise passes that JavaScript runs at scalar speed
 * with unpredictable branches (MaxPoolGrad: ~4 ns per element, 6× the forward max-pool). There
 * is no C++ toolchain in our build, so the few loops we need are written here as wasm
 * instructions and assembled into a module at startup; it imports the backend's own
 * `WebAssembly.Memory`, so it reads and writes tensors in place (pointers = byte offsets from
 * `backend.getMemoryOffset`). Everything is validated by WebAssembly itself when compiled; if
 * the runtime lacks SIMD or the memory is not reachable, `simdKernels` returns undefined and
 * callers keep their JavaScript path.
 */
import type { WasmBackendLike } from './wasm-heap.js';

// --- a minimal assembler: only what the loops below use ---------------------------------

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const I32 = 0x7f;
const V128 = 0x7b;

/** Instruction builders (each returns its bytes). */
const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  add: [0x6a],
  mul: [0x6c],
  ltU: [0x49],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  end: [0x0b],
  simd: (code: number) => [0xfd, ...uleb(code)],
};
const simd = {
  load: [...op.simd(0x00), 0, 0], // v128.load align=1 offset=0
  store: [...op.simd(0x0b), 0, 0],
  f32x4Splat: op.simd(0x13),
  f32x4Gt: op.simd(0x44),
  and: op.simd(0x4e),
  andnot: op.simd(0x4f), // a & ~b
  or: op.simd(0x50),
  bitselect: op.simd(0x52), // (a & c) | (b & ~c)
  xor: op.simd(0x51),
  i32x4Splat: op.simd(0x11),
  i32x4LtU: op.simd(0x3a),
  i32x4ShrU: op.simd(0xad),
  i32x4Add: op.simd(0xae),
  i32x4Mul: op.simd(0xb5),
  f32x4Sqrt: op.simd(0xe3),
  f32x4Add: op.simd(0xe4),
  f32x4Mul: op.simd(0xe6),
  f32x4Div: op.simd(0xe7),
  /** i8x16.shuffle picking float lanes (0-3 from the first operand, 4-7 from the second). */
  shuffleLanes: (lanes: [number, number, number, number]) => [
    ...op.simd(0x0d),
    ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
  ],
  const: (lanes: number[]) => [...op.simd(0x0c), ...new Uint8Array(new Int32Array(lanes).buffer)],
};
const f32 = (v: number): number[] => {
  const b = new Uint8Array(new Float32Array([v]).buffer);
  return [0x43, ...b];
};

interface FunctionDef {
  name: string;
  params: number;
  locals: [count: number, type: number][];
  body: number[];
}

function assemble(fns: FunctionDef[]): Uint8Array<ArrayBuffer> {
  const types = fns.map((f) => [0x60, ...vec(new Array(f.params).fill([I32])), 0]);
  const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(1)]]);
  const funcs = vec(fns.map((_, i) => uleb(i)));
  const exports = vec(fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const codes = vec(
    fns.map((f) => {
      const body = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.body, ...op.end];
      return [...uleb(body.length), ...body];
    }),
  );
  // prettier-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, codes),
  ]);
}

// --- the loops ---------------------------------------------------------------------------

/**
 * maxPoolGrad2x2(x, dy, dx, rows, ow, channelBytes, rowBytes): for non-overlapping 2×2 windows
 * (stride 2), dx = dy at each window's first maximum (scan order, strict >, NaN and -Infinity
 * never win: the cpu backend's rule) and +0 elsewhere, 4 channels per instruction.
 * `rows` output rows of `ow` windows; input rows are `rowBytes` apart and output row r reads
 * input rows 2r, 2r+1 (call once per image when the input height is odd). channelBytes = 4·C, C % 4 = 0.
 */
function maxPoolGrad2x2(): FunctionDef {
  // params: 0 x, 1 dy, 2 dx, 3 rows, 4 ow, 5 channelBytes, 6 rowBytes
  const [X, G, DX, ROWS, OW, CB, RB] = [0, 1, 2, 3, 4, 5, 6];
  // i32 locals
  const [R, C, D, PA, ROWA] = [7, 8, 9, 10, 11];
  // v128 locals
  const [V0, V1, V2, V3, BEST, M1, M2, M3, W0, GV, NINF, N23] = [
    12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
  ];
  const load = (addr: number[]) => [...addr, ...simd.load];
  const storeAt = (pa: number[], value: number[]) => [
    ...pa,
    ...op.get(DX),
    ...op.add,
    ...op.get(X),
    ...[0x6b] /* i32.sub */,
    ...value,
    ...simd.store,
  ];
  const paPlus = (...terms: number[]) => [...op.get(PA), ...terms.flatMap((t) => [...op.get(t), ...op.add])];
  // prettier-ignore
  const body = [
    ...f32(Number.NEGATIVE_INFINITY), ...simd.f32x4Splat, ...op.set(NINF),
    ...op.i32(0), ...op.set(R),
    ...op.block, ...op.get(ROWS), 0x45 /* i32.eqz */, ...op.brIf(0),
    ...op.loop, // rows
    //   rowA = x + r * 2 * rowBytes
    ...op.get(X), ...op.get(R), ...op.i32(2), ...op.mul, ...op.get(RB), ...op.mul, ...op.add, ...op.set(ROWA),
    ...op.i32(0), ...op.set(C),
    ...op.loop, // windows
    ...op.i32(0), ...op.set(D),
    ...op.loop, // channels, 4 at a time
    //   pa = rowA + c * 2 * channelBytes + d
    ...op.get(ROWA), ...op.get(C), ...op.i32(2), ...op.mul, ...op.get(CB), ...op.mul, ...op.add, ...op.get(D), ...op.add, ...op.set(PA),
    ...load(op.get(PA)), ...op.set(V0),
    ...load(paPlus(CB)), ...op.set(V1),
    ...load(paPlus(RB)), ...op.set(V2),
    ...load(paPlus(RB, CB)), ...op.set(V3),
    ...load(op.get(G)), ...op.set(GV),
    ...op.get(G), ...op.i32(16), ...op.add, ...op.set(G),
    // w0 = v0 > -inf; best = w0 ? v0 : -inf
    ...op.get(V0), ...op.get(NINF), ...simd.f32x4Gt, ...op.set(W0),
    ...op.get(V0), ...op.get(NINF), ...op.get(W0), ...simd.bitselect, ...op.set(BEST),
    ...op.get(V1), ...op.get(BEST), ...simd.f32x4Gt, ...op.set(M1),
    ...op.get(V1), ...op.get(BEST), ...op.get(M1), ...simd.bitselect, ...op.set(BEST),
    ...op.get(V2), ...op.get(BEST), ...simd.f32x4Gt, ...op.set(M2),
    ...op.get(V2), ...op.get(BEST), ...op.get(M2), ...simd.bitselect, ...op.set(BEST),
    ...op.get(V3), ...op.get(BEST), ...simd.f32x4Gt, ...op.set(M3),
    ...op.get(M2), ...op.get(M3), ...simd.or, ...op.set(N23),
    ...storeAt(op.get(PA), [...op.get(GV), ...op.get(W0), ...op.get(M1), ...op.get(N23), ...simd.or, ...simd.andnot, ...simd.and]),
    ...storeAt(paPlus(CB), [...op.get(GV), ...op.get(M1), ...op.get(N23), ...simd.andnot, ...simd.and]),
    ...storeAt(paPlus(RB), [...op.get(GV), ...op.get(M2), ...op.get(M3), ...simd.andnot, ...simd.and]),
    ...storeAt(paPlus(RB, CB), [...op.get(GV), ...op.get(M3), ...simd.and]),
    ...op.get(D), ...op.i32(16), ...op.add, ...op.set(D),
    ...op.get(D), ...op.get(CB), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.get(C), ...op.i32(1), ...op.add, ...op.set(C),
    ...op.get(C), ...op.get(OW), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.get(R), ...op.i32(1), ...op.add, ...op.set(R),
    ...op.get(R), ...op.get(ROWS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return {
    name: 'maxPoolGrad2x2',
    params: 7,
    locals: [
      [5, I32],
      [12, V128],
    ],
    body,
  };
}

/**
 * dropoutMask(out, groups, k1, k2, threshold, scaleBits): for i < 4·groups,
 * out[i] = draw(i) < threshold (unsigned) ? scale : +0, with draw(i) = mix(mix(i + k1) ^ k2)
 * and mix the "lowbias32" integer hash; scaleBits is scale's float32 bit pattern. The same
 * function as `dropoutDraw` in fast-random.ts, 4 lanes at a time.
 */
function dropoutMask(): FunctionDef {
  // params: 0 out, 1 groups, 2 k1, 3 k2, 4 threshold, 5 scaleBits
  const [OUT, GROUPS, K1, K2, THR, SCALE] = [0, 1, 2, 3, 4, 5];
  const [G] = [6];
  const [IDX, H] = [7, 8];
  const shrXor = (n: number) => [
    ...op.get(H),
    ...op.get(H),
    ...op.i32(n),
    ...simd.i32x4ShrU,
    ...simd.xor,
    ...op.set(H),
  ];
  const mulBy = (c: number) => [
    ...op.get(H),
    ...op.i32(c),
    ...simd.i32x4Splat,
    ...simd.i32x4Mul,
    ...op.set(H),
  ];
  const mix = [...shrXor(16), ...mulBy(0x7feb352d), ...shrXor(15), ...mulBy(0x846ca68b | 0), ...shrXor(16)];
  // prettier-ignore
  const body = [
    ...simd.const([0, 1, 2, 3]), ...op.set(IDX),
    ...op.i32(0), ...op.set(G),
    ...op.block, ...op.get(GROUPS), 0x45 /* i32.eqz */, ...op.brIf(0),
    ...op.loop,
    ...op.get(IDX), ...op.get(K1), ...simd.i32x4Splat, ...simd.i32x4Add, ...op.set(H),
    ...mix,
    ...op.get(H), ...op.get(K2), ...simd.i32x4Splat, ...simd.xor, ...op.set(H),
    ...mix,
    // store (h <u threshold) & scale
    ...op.get(OUT),
    ...op.get(H), ...op.get(THR), ...simd.i32x4Splat, ...simd.i32x4LtU,
    ...op.get(SCALE), ...simd.i32x4Splat, ...simd.and,
    ...simd.store,
    ...op.get(OUT), ...op.i32(16), ...op.add, ...op.set(OUT),
    ...op.get(IDX), ...op.i32(4), ...simd.i32x4Splat, ...simd.i32x4Add, ...op.set(IDX),
    ...op.get(G), ...op.i32(1), ...op.add, ...op.set(G),
    ...op.get(G), ...op.get(GROUPS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return {
    name: 'dropoutMask',
    params: 6,
    locals: [
      [1, I32],
      [2, V128],
    ],
    body,
  };
}

/**
 * copyRows(dst, src, rows, lengthBytes, dstStrideBytes, srcStrideBytes, zerosBefore, zerosAfter):
 * for `rows` rows, zerosBefore bytes of zeros, lengthBytes copied from src, zerosAfter bytes of
 * zeros (dst points at the copied part); both pointers advance by their stride. im2col row
 * gathering with its padding: one call replaces hundreds of `copyWithin` calls from JavaScript
 * and a fill of the whole matrix.
 */
function copyRows(): FunctionDef {
  const [DST, SRC, ROWS, LEN, DSTRIDE, SSTRIDE, BEFORE, AFTER] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [R] = [8];
  // prettier-ignore
  const body = [
    ...op.i32(0), ...op.set(R),
    ...op.block, ...op.get(ROWS), 0x45 /* i32.eqz */, ...op.brIf(0),
    ...op.loop,
    ...op.get(DST), ...op.get(BEFORE), 0x6b /* i32.sub */, ...op.i32(0), ...op.get(BEFORE), 0xfc, 0x0b, 0x00, // memory.fill
    ...op.get(DST), ...op.get(SRC), ...op.get(LEN), 0xfc, 0x0a, 0x00, 0x00, // memory.copy
    ...op.get(DST), ...op.get(LEN), ...op.add, ...op.i32(0), ...op.get(AFTER), 0xfc, 0x0b, 0x00, // memory.fill
    ...op.get(DST), ...op.get(DSTRIDE), ...op.add, ...op.set(DST),
    ...op.get(SRC), ...op.get(SSTRIDE), ...op.add, ...op.set(SRC),
    ...op.get(R), ...op.i32(1), ...op.add, ...op.set(R),
    ...op.get(R), ...op.get(ROWS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return { name: 'copyRows', params: 8, locals: [[1, I32]], body };
}

/**
 * columnSums(src, dst, blocks, groups, rowBytes, blockRows): for each block of blockRows
 * consecutive rows (rowBytes apart) and each group of 4 float columns, the float32 column sums
 * of the block, written densely to dst ([blocks, 4·groups]). Short float32 runs; the caller
 * adds the block sums in float64.
 */
function columnSums(): FunctionDef {
  const [SRC, DST, BLOCKS, GROUPS, RB, BROWS] = [0, 1, 2, 3, 4, 5];
  const [BLK, G, R, P] = [6, 7, 8, 9];
  const [ACC] = [10];
  // prettier-ignore
  const body = [
    ...op.i32(0), ...op.set(BLK),
    ...op.block, ...op.get(BLOCKS), 0x45, ...op.brIf(0), ...op.get(GROUPS), 0x45, ...op.brIf(0), ...op.get(BROWS), 0x45, ...op.brIf(0),
    ...op.loop, // blocks
    ...op.i32(0), ...op.set(G),
    ...op.loop, // column groups
    //   p = src + blk * blockRows * rowBytes + g * 16
    ...op.get(SRC), ...op.get(BLK), ...op.get(BROWS), ...op.mul, ...op.get(RB), ...op.mul, ...op.add,
    ...op.get(G), ...op.i32(16), ...op.mul, ...op.add, ...op.set(P),
    ...simd.const([0, 0, 0, 0]), ...op.set(ACC),
    ...op.i32(0), ...op.set(R),
    ...op.loop, // rows of the block
    ...op.get(ACC), ...op.get(P), ...simd.load, ...simd.f32x4Add, ...op.set(ACC),
    ...op.get(P), ...op.get(RB), ...op.add, ...op.set(P),
    ...op.get(R), ...op.i32(1), ...op.add, ...op.set(R),
    ...op.get(R), ...op.get(BROWS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.get(DST), ...op.get(ACC), ...simd.store,
    ...op.get(DST), ...op.i32(16), ...op.add, ...op.set(DST),
    ...op.get(G), ...op.i32(1), ...op.add, ...op.set(G),
    ...op.get(G), ...op.get(GROUPS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.get(BLK), ...op.i32(1), ...op.add, ...op.set(BLK),
    ...op.get(BLK), ...op.get(BLOCKS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return {
    name: 'columnSums',
    params: 6,
    locals: [
      [4, I32],
      [1, V128],
    ],
    body,
  };
}

/**
 * addRowVector(out, a, v, rows, groups): out[r, :] = a[r, :] + v for a row-major [rows, 4·groups]
 * matrix a (a bias added over NHWC activations). Same float32 sums as the stock Add.
 */
function addRowVector(): FunctionDef {
  const [OUT, A, V, ROWS, GROUPS] = [0, 1, 2, 3, 4];
  const [R, G, VP] = [5, 6, 7];
  // prettier-ignore
  const body = [
    ...op.i32(0), ...op.set(R),
    ...op.block, ...op.get(ROWS), 0x45, ...op.brIf(0), ...op.get(GROUPS), 0x45, ...op.brIf(0),
    ...op.loop, // rows
    ...op.i32(0), ...op.set(G),
    ...op.get(V), ...op.set(VP),
    ...op.loop, // column groups
    ...op.get(OUT), ...op.get(A), ...simd.load, ...op.get(VP), ...simd.load, ...simd.f32x4Add, ...simd.store,
    ...op.get(OUT), ...op.i32(16), ...op.add, ...op.set(OUT),
    ...op.get(A), ...op.i32(16), ...op.add, ...op.set(A),
    ...op.get(VP), ...op.i32(16), ...op.add, ...op.set(VP),
    ...op.get(G), ...op.i32(1), ...op.add, ...op.set(G),
    ...op.get(G), ...op.get(GROUPS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.get(R), ...op.i32(1), ...op.add, ...op.set(R),
    ...op.get(R), ...op.get(ROWS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return { name: 'addRowVector', params: 5, locals: [[3, I32]], body };
}

/**
 * transpose4(src, dst, rows, cols): dst [cols, rows] = transpose of src [rows, cols], both
 * multiples of 4, in 4×4 blocks (4 loads, 8 shuffles, 4 stores per 16 floats).
 */
function transpose4(): FunctionDef {
  const [SRC, DST, ROWS, COLS] = [0, 1, 2, 3];
  const [R, C, P, Q, RB, CB] = [4, 5, 6, 7, 8, 9]; // RB = rows*4 bytes (dst row stride), CB = cols*4 bytes
  const [V0, V1, V2, V3, T0, T1, T2, T3] = [10, 11, 12, 13, 14, 15, 16, 17];
  const at = (base: number, k: number, stride: number) => [
    ...op.get(base),
    ...(k === 0 ? [] : [...op.get(stride), ...op.i32(k), ...op.mul, ...op.add]),
  ];
  // prettier-ignore
  const body = [
    ...op.get(ROWS), ...op.i32(4), ...op.mul, ...op.set(RB),
    ...op.get(COLS), ...op.i32(4), ...op.mul, ...op.set(CB),
    ...op.i32(0), ...op.set(R),
    ...op.block, ...op.get(ROWS), 0x45, ...op.brIf(0), ...op.get(COLS), 0x45, ...op.brIf(0),
    ...op.loop, // row blocks
    ...op.i32(0), ...op.set(C),
    ...op.loop, // column blocks
    //   p = src + (r * cols + c) * 4 ; q = dst + (c * rows + r) * 4
    ...op.get(SRC), ...op.get(R), ...op.get(CB), ...op.mul, ...op.add, ...op.get(C), ...op.i32(4), ...op.mul, ...op.add, ...op.set(P),
    ...op.get(DST), ...op.get(C), ...op.get(RB), ...op.mul, ...op.add, ...op.get(R), ...op.i32(4), ...op.mul, ...op.add, ...op.set(Q),
    ...at(P, 0, CB), ...simd.load, ...op.set(V0),
    ...at(P, 1, CB), ...simd.load, ...op.set(V1),
    ...at(P, 2, CB), ...simd.load, ...op.set(V2),
    ...at(P, 3, CB), ...simd.load, ...op.set(V3),
    ...op.get(V0), ...op.get(V1), ...simd.shuffleLanes([0, 4, 1, 5]), ...op.set(T0),
    ...op.get(V0), ...op.get(V1), ...simd.shuffleLanes([2, 6, 3, 7]), ...op.set(T1),
    ...op.get(V2), ...op.get(V3), ...simd.shuffleLanes([0, 4, 1, 5]), ...op.set(T2),
    ...op.get(V2), ...op.get(V3), ...simd.shuffleLanes([2, 6, 3, 7]), ...op.set(T3),
    ...at(Q, 0, RB), ...op.get(T0), ...op.get(T2), ...simd.shuffleLanes([0, 1, 4, 5]), ...simd.store,
    ...at(Q, 1, RB), ...op.get(T0), ...op.get(T2), ...simd.shuffleLanes([2, 3, 6, 7]), ...simd.store,
    ...at(Q, 2, RB), ...op.get(T1), ...op.get(T3), ...simd.shuffleLanes([0, 1, 4, 5]), ...simd.store,
    ...at(Q, 3, RB), ...op.get(T1), ...op.get(T3), ...simd.shuffleLanes([2, 3, 6, 7]), ...simd.store,
    ...op.get(C), ...op.i32(4), ...op.add, ...op.set(C),
    ...op.get(C), ...op.get(COLS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.get(R), ...op.i32(4), ...op.add, ...op.set(R),
    ...op.get(R), ...op.get(ROWS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return {
    name: 'transpose4',
    params: 4,
    locals: [
      [6, I32],
      [8, V128],
    ],
    body,
  };
}

/**
 * accumulateProducts(cols, dy, out, rows, pixels, co): out[t, :] += Σ_p cols[t, p] · dy[p, :] for
 * row-major cols [rows, pixels], dy [pixels, co] and out [rows, co], co a multiple of 16 (16
 * output channels per pass in 4 registers). The weight gradient of a convolution with few input
 * rows (the first layer: 3×3×1 = 9), where XNNPACK's GEMM spends most of its time packing dy.
 */
function accumulateProducts(): FunctionDef {
  const [COLS, DY, OUT, ROWS, PIXELS, CO] = [0, 1, 2, 3, 4, 5];
  const [T, G, P, CP, DP, OP, DSTRIDE] = [6, 7, 8, 9, 10, 11, 12];
  const [A0, A1, A2, A3, S] = [13, 14, 15, 16, 17];
  const acc = [A0, A1, A2, A3];
  // prettier-ignore
  const body = [
    ...op.get(CO), ...op.i32(4), ...op.mul, ...op.set(DSTRIDE),
    ...op.i32(0), ...op.set(T),
    ...op.block, ...op.get(ROWS), 0x45, ...op.brIf(0), ...op.get(PIXELS), 0x45, ...op.brIf(0), ...op.get(CO), 0x45, ...op.brIf(0),
    ...op.loop, // rows t
    ...op.i32(0), ...op.set(G),
    ...op.loop, // 16-channel groups, g = first channel
    //   op = out + (t * co + g) * 4
    ...op.get(OUT), ...op.get(T), ...op.get(CO), ...op.mul, ...op.get(G), ...op.add, ...op.i32(4), ...op.mul, ...op.add, ...op.set(OP),
    ...acc.flatMap((a, k) => [...op.get(OP), ...(k === 0 ? [] : [...op.i32(16 * k), ...op.add]), ...simd.load, ...op.set(a)]),
    //   cp = cols + t * pixels * 4 ; dp = dy + g * 4
    ...op.get(COLS), ...op.get(T), ...op.get(PIXELS), ...op.mul, ...op.i32(4), ...op.mul, ...op.add, ...op.set(CP),
    ...op.get(DY), ...op.get(G), ...op.i32(4), ...op.mul, ...op.add, ...op.set(DP),
    ...op.i32(0), ...op.set(P),
    ...op.loop, // pixels
    ...op.get(CP), 0x2a, 0x02, 0x00 /* f32.load */, ...simd.f32x4Splat, ...op.set(S),
    ...acc.flatMap((a, k) => [
      ...op.get(a), ...op.get(S), ...op.get(DP), ...(k === 0 ? [] : [...op.i32(16 * k), ...op.add]), ...simd.load, ...simd.f32x4Mul, ...simd.f32x4Add, ...op.set(a),
    ]),
    ...op.get(CP), ...op.i32(4), ...op.add, ...op.set(CP),
    ...op.get(DP), ...op.get(DSTRIDE), ...op.add, ...op.set(DP),
    ...op.get(P), ...op.i32(1), ...op.add, ...op.set(P),
    ...op.get(P), ...op.get(PIXELS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...acc.flatMap((a, k) => [...op.get(OP), ...(k === 0 ? [] : [...op.i32(16 * k), ...op.add]), ...op.get(a), ...simd.store]),
    ...op.get(G), ...op.i32(16), ...op.add, ...op.set(G),
    ...op.get(G), ...op.get(CO), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.get(T), ...op.i32(1), ...op.add, ...op.set(T),
    ...op.get(T), ...op.get(ROWS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return {
    name: 'accumulateProducts',
    params: 6,
    locals: [
      [7, I32],
      [5, V128],
    ],
    body,
  };
}

/**
 * adamUpdate(out, value, m, v, g, groups, beta1, 1-beta1, beta2, 1-beta2, 1-accBeta1, 1-accBeta2,
 * epsilon, -learningRate): one Adam step over 4·groups floats (m and v in place, the new value to
 * `out`), in exactly the float32 operations and order of tf.AdamOptimizer (each rounded like its
 * separate tfjs op):
 *   m = m·β1 + g·(1-β1);  v = v·β2 + (g·g)·(1-β2)
 *   out = ((m/(1-accβ1)) / (sqrt(v/(1-accβ2)) + ε))·(-lr) + value
 * The float parameters are passed as their float32 bit patterns (i32x4.splat of the bits is
 * the f32x4 splat of the float).
 */
function adamUpdate(): FunctionDef {
  const [OUT, VALUE, M, V, G, GROUPS] = [0, 1, 2, 3, 4, 5];
  const [B1, C1, B2, C2, BC1, BC2, EPS, NLR] = [6, 7, 8, 9, 10, 11, 12, 13];
  const [I] = [14];
  const [VB1, VC1, VB2, VC2, VBC1, VBC2, VEPS, VNLR, GV, MV, VV] = [
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
  ];
  const splat = (from: number, to: number) => [...op.get(from), ...simd.i32x4Splat, ...op.set(to)];
  const bump = (p: number) => [...op.get(p), ...op.i32(16), ...op.add, ...op.set(p)];
  // prettier-ignore
  const body = [
    ...splat(B1, VB1), ...splat(C1, VC1), ...splat(B2, VB2), ...splat(C2, VC2),
    ...splat(BC1, VBC1), ...splat(BC2, VBC2), ...splat(EPS, VEPS), ...splat(NLR, VNLR),
    ...op.i32(0), ...op.set(I),
    ...op.block, ...op.get(GROUPS), 0x45 /* i32.eqz */, ...op.brIf(0),
    ...op.loop,
    ...op.get(G), ...simd.load, ...op.set(GV),
    // m = m·β1 + g·(1-β1)
    ...op.get(M), ...simd.load, ...op.get(VB1), ...simd.f32x4Mul,
    ...op.get(GV), ...op.get(VC1), ...simd.f32x4Mul, ...simd.f32x4Add, ...op.set(MV),
    ...op.get(M), ...op.get(MV), ...simd.store,
    // v = v·β2 + (g·g)·(1-β2)
    ...op.get(V), ...simd.load, ...op.get(VB2), ...simd.f32x4Mul,
    ...op.get(GV), ...op.get(GV), ...simd.f32x4Mul, ...op.get(VC2), ...simd.f32x4Mul, ...simd.f32x4Add, ...op.set(VV),
    ...op.get(V), ...op.get(VV), ...simd.store,
    // out = ((m/bc1) / (sqrt(v/bc2) + ε))·(-lr) + value
    ...op.get(OUT),
    ...op.get(MV), ...op.get(VBC1), ...simd.f32x4Div,
    ...op.get(VV), ...op.get(VBC2), ...simd.f32x4Div, ...simd.f32x4Sqrt, ...op.get(VEPS), ...simd.f32x4Add,
    ...simd.f32x4Div, ...op.get(VNLR), ...simd.f32x4Mul,
    ...op.get(VALUE), ...simd.load, ...simd.f32x4Add,
    ...simd.store,
    ...bump(OUT), ...bump(VALUE), ...bump(M), ...bump(V), ...bump(G),
    ...op.get(I), ...op.i32(1), ...op.add, ...op.set(I),
    ...op.get(I), ...op.get(GROUPS), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
  return {
    name: 'adamUpdate',
    params: 14,
    locals: [
      [1, I32],
      [11, V128],
    ],
    body,
  };
}

export interface SimdKernels {
  adamUpdate(
    out: number,
    value: number,
    m: number,
    v: number,
    g: number,
    groups: number,
    beta1Bits: number,
    oneMinusBeta1Bits: number,
    beta2Bits: number,
    oneMinusBeta2Bits: number,
    oneMinusAccBeta1Bits: number,
    oneMinusAccBeta2Bits: number,
    epsilonBits: number,
    negLearningRateBits: number,
  ): void;
  accumulateProducts(cols: number, dy: number, out: number, rows: number, pixels: number, co: number): void;
  transpose4(src: number, dst: number, rows: number, cols: number): void;
  addRowVector(out: number, a: number, v: number, rows: number, groups: number): void;
  columnSums(
    src: number,
    dst: number,
    blocks: number,
    groups: number,
    rowBytes: number,
    blockRows: number,
  ): void;
  copyRows(
    dst: number,
    src: number,
    rows: number,
    lengthBytes: number,
    dstStrideBytes: number,
    srcStrideBytes: number,
    zerosBefore: number,
    zerosAfter: number,
  ): void;
  dropoutMask(
    out: number,
    groups: number,
    k1: number,
    k2: number,
    threshold: number,
    scaleBits: number,
  ): void;
  maxPoolGrad2x2(
    x: number,
    dy: number,
    dx: number,
    rows: number,
    ow: number,
    channelBytes: number,
    rowBytes: number,
  ): void;
}

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();

/** The SIMD loops bound to the backend's heap, or undefined when they cannot run here. */
export function simdKernels(backend: WasmBackendLike): SimdKernels | undefined {
  const memory = (backend.wasm as { asm?: { memory?: unknown } }).asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    try {
      const module = new WebAssembly.Module(
        assemble([
          maxPoolGrad2x2(),
          dropoutMask(),
          copyRows(),
          columnSums(),
          addRowVector(),
          transpose4(),
          accumulateProducts(),
          adamUpdate(),
        ]),
      );
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      kernels = instance.exports as unknown as SimdKernels;
    } catch {
      kernels = null; // no wasm SIMD in this runtime: callers use JavaScript
    }
    instances.set(memory, kernels);
  }
  return kernels ?? undefined;
}
