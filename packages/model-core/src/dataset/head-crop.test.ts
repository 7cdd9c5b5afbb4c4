import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { CheckpointPreprocessingSchema } from '../checkpoint/checkpoint.js';
import { headBox, loadBundle, prepareDataset, preprocessImage, type PreprocessingInput } from './index.js';
import { scanLikePixels, writeFiles } from './test-images.js';

process.env.LOG_LEVEL ??= 'silent';

const HEAD = 200;

/** The same head, large and centred, normally exposed: a tightly framed scan. */
async function tightScan(seed: number): Promise<Buffer> {
  return sharp(scanLikePixels(seed, HEAD), { raw: { width: HEAD, height: HEAD, channels: 1 } })
    .png()
    .toBuffer();
}

/**
 * The same head from another "scanner": 60 % of the size, off-centre in a 600 px black frame,
 * at 55 % brightness plus a grey floor, with a thin bright border line, a text-like mark and
 * specks, JPEG-encoded.
 */
async function looseScan(seed: number): Promise<Buffer> {
  const side = 600;
  const small = await sharp(scanLikePixels(seed, HEAD), { raw: { width: HEAD, height: HEAD, channels: 1 } })
    .resize(120, 120)
    .linear(0.55, 6)
    .greyscale()
    .raw()
    .toBuffer();
  const frame = new Uint8Array(side * side).fill(6);
  for (let y = 0; y < 120; y++) frame.set(small.subarray(y * 120, y * 120 + 120), (380 + y) * side + 90);
  for (let y = 0; y < side; y++) frame[y * side + 592] = frame[y * side + 593] = 255; // border line
  for (let x = 0; x < side; x++) frame[8 * side + x] = 255;
  for (let y = 20; y < 30; y++) for (let x = 30; x < 36; x++) frame[y * side + x] = 240; // "L" marker
  for (const [x, y] of [
    [400, 100],
    [500, 250],
    [300, 550],
  ] as const)
    frame[y * side + x] = 255;
  return sharp(frame, { raw: { width: side, height: side, channels: 1 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

const settings = (extra: Partial<PreprocessingInput>): PreprocessingInput => ({
  grayscale: true,
  resize: 'contain',
  kernel: 'lanczos3',
  imageSize: 48,
  ...extra,
});

const meanAbsDiff = (a: Uint8Array, b: Uint8Array): number =>
  a.reduce((s, v, i) => s + Math.abs(v - (b[i] as number)), 0) / a.length;

describe('head crop and intensity standardisation', () => {
  it('finds the head box and ignores the border line, the marker and specks', () => {
    const side = 128;
    const image = new Uint8Array(side * side);
    for (let y = 40; y < 90; y++) for (let x = 20; x < 60; x++) image[y * side + x] = 180;
    for (let y = 0; y < side; y++) image[y * side + 125] = 255;
    for (let y = 5; y < 8; y++) for (let x = 100; x < 102; x++) image[y * side + x] = 255;
    image[3 * side + 3] = 255;
    expect(headBox(image, side, side)).toEqual({ left: 20, top: 40, width: 40, height: 50 });
  });

  it('makes a loosely framed, dark, bordered scan look like the tight one', async () => {
    for (const seed of [11, 12, 13]) {
      const tight = await tightScan(seed);
      const loose = await looseScan(seed);
      const raw = settings({});
      const before = meanAbsDiff(await preprocessImage(tight, raw), await preprocessImage(loose, raw));
      const standard = settings({ headCrop: true, cropMargin: 0.05, intensity: 'percentile' });
      const after = meanAbsDiff(
        await preprocessImage(tight, standard),
        await preprocessImage(loose, standard),
      );
      // Measured: 83 → 5.4, 65 → 4.5, 63 → 11.2 grey levels (resampling 120 px vs 200 px and JPEG remain).
      expect(before, `seed ${seed}`).toBeGreaterThan(40);
      expect(after, `seed ${seed}`).toBeLessThan(Math.min(12, before / 5));
    }
  });

  it('gives predict exactly the bundle pixels of a file, for every intensity method', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'braintune-head-crop-test-'));
    try {
      const files: Record<string, Buffer> = {};
      for (let s = 0; s < 3; s++) {
        files[`x/tight ${s}.png`] = await tightScan(20 + s);
        files[`y/loose ${s}.jpg`] = await looseScan(30 + s);
      }
      await writeFiles(path.join(tmp, 'data'), files);
      const store = new FilesystemArtifactStore(path.join(tmp, 'artifacts'));
      for (const intensity of ['none', 'percentile', 'equalize', 'clahe'] as const) {
        const prepared = await prepareDataset({
          dataDir: path.join(tmp, 'data'),
          imageSize: 24,
          headCrop: true,
          cropMargin: 0.1,
          intensity,
          store,
        });
        expect(prepared.manifest.preprocessing).toMatchObject({ headCrop: true, cropMargin: 0.1, intensity });
        const bundle = await loadBundle(store, prepared.hash);
        // What a checkpoint records and predict / the registry / the dashboard read back.
        const recorded = CheckpointPreprocessingSchema.parse(
          JSON.parse(JSON.stringify(bundle.preprocessing)),
        );
        const px = 24 * 24;
        for (const f of prepared.manifest.files) {
          const pixels = await preprocessImage(path.join(tmp, 'data', f.path), recorded);
          expect(Buffer.from(pixels).equals(bundle.images.subarray(f.index * px, (f.index + 1) * px))).toBe(
            true,
          );
        }
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('leaves old settings without the new fields on the historic pipeline', async () => {
    const scan = await looseScan(5);
    const legacy = await preprocessImage(scan, settings({}));
    const explicit = await preprocessImage(scan, settings({ headCrop: false, intensity: 'none' }));
    expect(Buffer.from(legacy).equals(Buffer.from(explicit))).toBe(true);
  });
});
