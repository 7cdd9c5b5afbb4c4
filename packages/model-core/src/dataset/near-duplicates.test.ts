import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import {
  DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  hashDistances,
  loadBundle,
  perceptualHash,
  prepareDataset,
  type BundleManifest,
  type PerceptualHash,
} from './index.js';
import { scanLikePixels, writeFiles } from './test-images.js';

process.env.LOG_LEVEL ??= 'silent';

const SIZE = 256;
const raw = { raw: { width: SIZE, height: SIZE, channels: 1 as const } };

/** The original and four acquisition-style copies: shifted, rescaled, darker, JPEG re-encoded. */
async function variants(seed: number): Promise<Record<string, Buffer>> {
  const pixels = scanLikePixels(seed, SIZE);
  const png = await sharp(pixels, raw).png().toBuffer();
  return {
    original: png,
    shifted: await sharp(
      await sharp(pixels, raw)
        .extend({ top: 3, left: 5, bottom: 0, right: 0, background: '#000' })
        .extract({ left: 0, top: 0, width: SIZE, height: SIZE })
        .png()
        .toBuffer(),
    )
      .png()
      .toBuffer(),
    rescaled: await sharp(pixels, raw).resize(171, 171).png().toBuffer(),
    darker: await sharp(pixels, raw).linear(0.65, 12).png().toBuffer(),
    jpeg: await sharp(pixels, raw).jpeg({ quality: 35 }).toBuffer(),
  };
}

const within = (a: PerceptualHash, b: PerceptualHash, t: number): boolean => {
  const d = hashDistances(a, b);
  return d.dHash <= t && d.pHash <= t;
};

let tmp: string;
let manifest: BundleManifest;
let store: FilesystemArtifactStore;
const ORIGINALS = 8;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'braintune-near-dup-test-'));
  const files: Record<string, Buffer> = {};
  for (let s = 0; s < ORIGINALS; s++) {
    const cls = s % 2 === 0 ? 'a' : 'b';
    for (const [name, bytes] of Object.entries(await variants(1000 + s)))
      files[`${cls}/scan ${s} ${name}.${name === 'jpeg' ? 'jpg' : 'png'}`] = bytes;
  }
  // A re-encoded copy filed under the other class: a possible label conflict.
  files['a/scan 1 mislabelled.jpg'] = await sharp(scanLikePixels(1001, SIZE), raw)
    .linear(1.2, -10)
    .jpeg({ quality: 60 })
    .toBuffer();
  await writeFiles(path.join(tmp, 'data'), files);
  store = new FilesystemArtifactStore(path.join(tmp, 'artifacts'));
  ({ manifest } = await prepareDataset({
    dataDir: path.join(tmp, 'data'),
    imageSize: 16,
    valFraction: 0.3,
    store,
  }));
}, 60_000);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('perceptual hashes', () => {
  it('keep shifted, rescaled, brightness-changed and JPEG copies within the default threshold', async () => {
    for (const seed of [1, 2, 3]) {
      const copies = await variants(seed);
      const original = await perceptualHash(copies.original as Buffer);
      for (const [name, bytes] of Object.entries(copies)) {
        const d = hashDistances(original, await perceptualHash(bytes));
        expect(Math.max(d.dHash, d.pHash), `seed ${seed}, ${name}`).toBeLessThanOrEqual(
          DEFAULT_NEAR_DUPLICATE_THRESHOLD,
        );
      }
    }
  });

  it('keep distinct images apart', async () => {
    const hashes = await Promise.all(
      Array.from({ length: 12 }, async (_, s) =>
        perceptualHash(
          await sharp(scanLikePixels(500 + s, SIZE), raw)
            .png()
            .toBuffer(),
        ),
      ),
    );
    for (let i = 0; i < hashes.length; i++)
      for (let j = i + 1; j < hashes.length; j++)
        expect(
          within(hashes[i] as PerceptualHash, hashes[j] as PerceptualHash, DEFAULT_NEAR_DUPLICATE_THRESHOLD),
          `${i}, ${j}`,
        ).toBe(false);
  });
});

describe('near-duplicate split', () => {
  const groupOf = (p: string): number | undefined => manifest.files.find((f) => f.path === p)?.group;

  it('puts each original and its copies in one group, distinct originals in different groups', () => {
    const groups = new Map<number, Set<number>>();
    for (const f of manifest.files) {
      const s = Number(/scan (\d+)/.exec(f.path)?.[1]);
      const set = groups.get(s) ?? new Set<number>();
      set.add(f.group as number);
      groups.set(s, set);
    }
    expect(groups.size).toBe(ORIGINALS);
    for (const [s, ids] of groups) expect([...ids], `scan ${s}`).toHaveLength(1);
    expect(new Set([...groups.values()].map((ids) => [...ids][0])).size).toBe(ORIGINALS);
    expect(groupOf('a/scan 1 mislabelled.jpg')).toBe(groupOf('b/scan 1 original.png'));
  });

  it('never lets a group straddle train and validation', () => {
    const side = new Map<number, string>();
    for (const [name, indices] of Object.entries(manifest.split))
      for (const i of indices) {
        const g = manifest.files[i]?.group as number;
        expect(side.get(g) ?? name, `group ${g}`).toBe(name);
        side.set(g, name);
      }
    expect(manifest.split.val.length).toBeGreaterThan(0);
    expect(manifest.split.train.length).toBeGreaterThan(0);
  });

  it('reports groups, pairs and cross-class pairs with paths', () => {
    const report = manifest.nearDuplicates;
    expect(report?.method).toBe('dhash+phash');
    expect(report?.threshold).toBe(DEFAULT_NEAR_DUPLICATE_THRESHOLD);
    expect(report?.groups).toBe(ORIGINALS);
    expect(report?.groupSizes).toEqual({ '5': ORIGINALS - 1, '6': 1 });
    expect(report?.largestGroup.size).toBe(6);
    // 7 groups of 5 distinct files (10 pairs each) and one of 6 (15 pairs): complete graphs.
    expect(report?.pairs).toBe(7 * 10 + 15);
    expect(report?.crossClassPairs).toBe(5);
    const listed = report?.crossClassExamples ?? [];
    expect(listed).toHaveLength(5);
    for (const pair of listed) {
      expect(pair.paths).toContain('a/scan 1 mislabelled.jpg');
      expect([...pair.classes].sort()).toEqual(['a', 'b']);
      expect(pair.distance).toBeLessThanOrEqual(DEFAULT_NEAR_DUPLICATE_THRESHOLD);
    }
  });

  it('off groups byte-identical copies only, and is another bundle', async () => {
    const off = await prepareDataset({
      dataDir: path.join(tmp, 'data'),
      imageSize: 16,
      valFraction: 0.3,
      nearDuplicateThreshold: null,
      store,
    });
    expect(off.hash).not.toBe(manifest.hash);
    expect(off.manifest.nearDuplicates).toMatchObject({ method: 'sha256', threshold: null, pairs: 0 });
    expect(off.split.groups).toBe(0);
    const bundle = await loadBundle(store, off.hash);
    expect(bundle.split.val.length).toBeGreaterThan(0);
  });
});
