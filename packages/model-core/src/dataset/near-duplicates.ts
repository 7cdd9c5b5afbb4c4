import sharp from 'sharp';

/**
 * Perceptual hashes and near-duplicate search for the split.
 *
 * Each image gets two 64-bit hashes of a small greyscale thumbnail, and two images are near
 * duplicates when BOTH Hamming distances are ≤ the threshold:
 * - dHash (sign of the horizontal gradient on a 9×8 thumbnail): blind to brightness and
 *   contrast, robust to rescaling, JPEG re-encoding and shifts of a few pixels;
 * - pHash (signs of the 8×8 lowest DCT frequencies of a 32×32 thumbnail against their
 *   median): the coarse layout of the slice, robust to the same changes and to gamma.
 * Either alone is too coarse for brain MRI, where every slice is a bright oval on black: on
 * the shared data set dHash ≤ 6 already chains 1,077 images into one group and pairs 650
 * images of different classes (certainly different patients), pHash ≤ 8 gives a group of 776.
 * Requiring both keeps the neighbouring slices of one patient (92 % of the pairs at
 * distance 7 have adjacent file numbers) and drops most chance look-alikes (docs/dataset.md).
 */
export const NEAR_DUPLICATE_METHOD = 'dhash+phash';

/** Default threshold, chosen on the shared data set (docs/dataset.md, "Near-duplicate split"). */
export const DEFAULT_NEAR_DUPLICATE_THRESHOLD = 8;

/** Two 64-bit hashes as four uint32 words: [dHash hi, dHash lo, pHash hi, pHash lo]. */
export type PerceptualHash = readonly [number, number, number, number];

const THUMB = 32;
const DCT = 8;
const COSINES = Array.from({ length: DCT }, (_, u) =>
  Float64Array.from({ length: THUMB }, (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * THUMB))),
);

/**
 * Both hashes of an encoded image. One decode: libvips shrinks JPEGs on load to about the
 * 32×32 thumbnail, the 9×8 dHash grid is resized from that thumbnail.
 */
export async function perceptualHash(bytes: Buffer): Promise<PerceptualHash> {
  const thumb = await sharp(bytes, { failOn: 'error', animated: false })
    .autoOrient()
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .greyscale()
    .resize(THUMB, THUMB, { fit: 'fill' })
    .raw()
    .toBuffer();
  const grid = await sharp(thumb, { raw: { width: THUMB, height: THUMB, channels: 1 } })
    .resize(9, 8, { fit: 'fill' })
    .greyscale() // a raw one-channel input would come out as sRGB otherwise
    .raw()
    .toBuffer();
  const [dHi, dLo] = dHashWords(grid);
  const [pHi, pLo] = pHashWords(thumb);
  return [dHi, dLo, pHi, pLo];
}

/** Bit k (0 = most significant) set when pixel (x+1, y) is brighter than (x, y), row-major over 8×8. */
function dHashWords(grid: Uint8Array): [number, number] {
  const bits: boolean[] = [];
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++) bits.push((grid[y * 9 + x] ?? 0) < (grid[y * 9 + x + 1] ?? 0));
  return packBits(bits);
}

/** DCT-II of the 32×32 thumbnail, its 8×8 lowest frequencies compared with the median of the 63 AC terms. */
function pHashWords(thumb: Uint8Array): [number, number] {
  const rows = new Float64Array(DCT * THUMB);
  for (let y = 0; y < THUMB; y++)
    for (let u = 0; u < DCT; u++) {
      const c = COSINES[u] as Float64Array;
      let s = 0;
      for (let x = 0; x < THUMB; x++) s += (thumb[y * THUMB + x] ?? 0) * (c[x] ?? 0);
      rows[u * THUMB + y] = s;
    }
  const coefficients = new Float64Array(DCT * DCT);
  for (let u = 0; u < DCT; u++)
    for (let v = 0; v < DCT; v++) {
      const c = COSINES[v] as Float64Array;
      let s = 0;
      for (let y = 0; y < THUMB; y++) s += (rows[u * THUMB + y] ?? 0) * (c[y] ?? 0);
      coefficients[v * DCT + u] = s;
    }
  const median = [...coefficients.subarray(1)].sort((a, b) => a - b)[31] ?? 0;
  return packBits([...coefficients].map((c) => c > median));
}

function packBits(bits: readonly boolean[]): [number, number] {
  let hi = 0;
  let lo = 0;
  for (let k = 0; k < 32; k++) hi = ((hi << 1) | (bits[k] ? 1 : 0)) >>> 0;
  for (let k = 32; k < 64; k++) lo = ((lo << 1) | (bits[k] ? 1 : 0)) >>> 0;
  return [hi, lo];
}

/** The hash as 32 hex digits: dHash then pHash (what the manifest records). */
export function hashToHex(hash: PerceptualHash): string {
  return hash.map((w) => w.toString(16).padStart(8, '0')).join('');
}

function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Hamming distances of the dHashes and of the pHashes of two images. */
export function hashDistances(a: PerceptualHash, b: PerceptualHash): { dHash: number; pHash: number } {
  return {
    dHash: popcount32((a[0] ^ b[0]) >>> 0) + popcount32((a[1] ^ b[1]) >>> 0),
    pHash: popcount32((a[2] ^ b[2]) >>> 0) + popcount32((a[3] ^ b[3]) >>> 0),
  };
}

/** Disjoint sets with path halving and union by size; linear memory. */
export class UnionFind {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;

  constructor(count: number) {
    this.parent = Int32Array.from({ length: count }, (_, i) => i);
    this.size = new Int32Array(count).fill(1);
  }

  find(x: number): number {
    let node = x;
    while (this.parent[node] !== node) {
      const grand = this.parent[this.parent[node] as number] as number;
      this.parent[node] = grand;
      node = grand;
    }
    return node;
  }

  union(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    if ((this.size[ra] as number) < (this.size[rb] as number)) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] = (this.size[ra] as number) + (this.size[rb] as number);
  }
}

export interface NearDuplicatePair {
  a: number;
  b: number;
  /** The larger of the two Hamming distances. */
  distance: number;
}

/**
 * Joins every pair whose dHash and pHash distances are both ≤ `threshold` in `sets` and calls
 * `onPair` for it. All n²/2 pairs are compared (4 M for 2,870 images: tens of milliseconds with
 * a word popcount), but only the union-find is kept, so memory stays linear in n.
 */
export function joinNearDuplicates(
  hashes: readonly PerceptualHash[],
  threshold: number,
  sets: UnionFind,
  onPair: (pair: NearDuplicatePair) => void,
): void {
  const n = hashes.length;
  const words = new Uint32Array(n * 4);
  hashes.forEach((h, i) => words.set(h, i * 4));
  for (let i = 0; i < n; i++) {
    const a0 = words[i * 4] as number;
    const a1 = words[i * 4 + 1] as number;
    const a2 = words[i * 4 + 2] as number;
    const a3 = words[i * 4 + 3] as number;
    for (let j = i + 1; j < n; j++) {
      const d =
        popcount32((a0 ^ (words[j * 4] as number)) >>> 0) +
        popcount32((a1 ^ (words[j * 4 + 1] as number)) >>> 0);
      if (d > threshold) continue;
      const p =
        popcount32((a2 ^ (words[j * 4 + 2] as number)) >>> 0) +
        popcount32((a3 ^ (words[j * 4 + 3] as number)) >>> 0);
      if (p > threshold) continue;
      sets.union(i, j);
      onPair({ a: i, b: j, distance: Math.max(d, p) });
    }
  }
}

/** Reads a hash written by `hashToHex` (e.g. from a manifest). */
export function hashFromHex(hex: string): PerceptualHash {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`"${hex}" is not a 32-hex-digit perceptual hash`);
  const word = (k: number): number => Number.parseInt(hex.slice(k * 8, k * 8 + 8), 16);
  return [word(0), word(1), word(2), word(3)];
}
