import { cp, mkdir, mkdtemp, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { InvalidInputError, NotFoundError } from '@braintune/protocol';
import {
  BundleManifestSchema,
  CorruptBundleError,
  loadBundle,
  prepareDataset,
  preprocessImage,
  type BundleManifest,
} from './index.js';
import { noiseImage, solidImage, writeFiles } from './test-images.js';

process.env.LOG_LEVEL ??= 'silent';

let tmp: string;
let dataDir: string;

/**
 * Three classes; "beta" has a name with spaces and parentheses, an RGB and a greyscale PNG,
 * an RGBA PNG, a JPEG, a byte-identical pair and a triple, a corrupt JPEG and a text file.
 */
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'braintune-dataset-test-'));
  dataDir = path.join(tmp, 'data');
  const files: Record<string, Buffer | string> = {};
  let seed = 1;
  for (const cls of ['alpha', 'beta', 'gamma']) {
    for (let i = 0; i < 10; i++) {
      files[`${cls}/img ${i}.png`] = await noiseImage({
        seed: seed++,
        width: 20 + i,
        height: 24,
        channels: 3,
        format: 'png',
      });
    }
  }
  files['alpha/grey (1).png'] = await noiseImage({
    seed: 100,
    width: 16,
    height: 16,
    channels: 1,
    format: 'png',
  });
  files['alpha/rgba.png'] = await noiseImage({
    seed: 101,
    width: 18,
    height: 18,
    channels: 4,
    format: 'png',
  });
  files['alpha/photo.jpg'] = await noiseImage({
    seed: 102,
    width: 30,
    height: 30,
    channels: 3,
    format: 'jpeg',
  });
  files['alpha/wide white.png'] = await solidImage(40, 20, 255);
  const dupA = await noiseImage({ seed: 200, width: 20, height: 20, channels: 3, format: 'png' });
  files['beta/scan (1).png'] = dupA;
  files['beta/copy of scan (1).png'] = dupA;
  const dupB = await noiseImage({ seed: 201, width: 20, height: 20, channels: 1, format: 'png' });
  files['gamma/a.png'] = dupB;
  files['gamma/sub dir/b.png'] = dupB;
  files['gamma/c (copy).png'] = dupB;
  const jpeg = await noiseImage({ seed: 300, width: 32, height: 32, channels: 3, format: 'jpeg' });
  files['beta/corrupt.jpg'] = jpeg.subarray(0, Math.floor(jpeg.length / 2));
  files['beta/notes.txt'] = 'not an image\n';
  files['.DS_Store'] = 'x';
  files['README.md'] = 'top-level file, not in a class folder';
  await writeFiles(dataDir, files);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const freshStore = async (): Promise<FilesystemArtifactStore> =>
  new FilesystemArtifactStore(await mkdtemp(path.join(tmp, 'store-')));

describe('prepareDataset', () => {
  let manifest: BundleManifest;
  let store: FilesystemArtifactStore;
  let progressCalls = 0;

  beforeAll(async () => {
    store = await freshStore();
    const result = await prepareDataset({
      dataDir,
      imageSize: 8,
      store,
      seed: 7,
      onProgress: () => progressCalls++,
    });
    expect(result.reused).toBe(false);
    manifest = result.manifest;
  });

  it('writes a valid bundle with classes, counts and per-file records', async () => {
    expect(BundleManifestSchema.parse(manifest)).toBeTruthy();
    expect(manifest.classes).toEqual(['alpha', 'beta', 'gamma']);
    expect(manifest.counts).toEqual({ alpha: 14, beta: 12, gamma: 13 });
    expect(manifest.count).toBe(39);
    expect(manifest.files.map((f) => f.index)).toEqual([...Array(39).keys()]);
    expect(manifest.files.map((f) => f.path)).toContain('beta/scan (1).png');
    expect(manifest.files.map((f) => f.path)).toContain('gamma/sub dir/b.png');
    expect(manifest.preprocessing).toEqual({
      grayscale: true,
      resize: 'contain',
      kernel: 'lanczos3',
      imageSize: 8,
      headCrop: false,
      cropMargin: 0.05,
      intensity: 'none',
    });
    const dir = store.localDir(`datasets/${manifest.hash}`);
    expect((await readFile(path.join(dir, 'images.u8'))).length).toBe(39 * 64);
    expect([...(await readFile(path.join(dir, 'labels.u8')))]).toEqual(manifest.files.map((f) => f.label));
  });

  it('lists corrupt, non-image and stray files as skipped with a reason', () => {
    const reasons = Object.fromEntries(manifest.skipped.map((s) => [s.path, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['README.md', 'beta/corrupt.jpg', 'beta/notes.txt']);
    expect(reasons['beta/corrupt.jpg']).toMatch(/^corrupt jpeg/);
    expect(reasons['beta/notes.txt']).toMatch(/not an image/);
    expect(reasons['README.md']).toMatch(/not inside a class folder/);
  });

  it('finds byte-identical duplicate groups and decodes each distinct file once', () => {
    expect(manifest.duplicateGroups.map((g) => g.paths)).toEqual(
      expect.arrayContaining([
        ['beta/copy of scan (1).png', 'beta/scan (1).png'],
        ['gamma/a.png', 'gamma/c (copy).png', 'gamma/sub dir/b.png'],
      ]),
    );
    expect(manifest.duplicateGroups).toHaveLength(2);
    expect(manifest.duplicateGroups.every((g) => !g.crossClass && g.indices.length === g.paths.length)).toBe(
      true,
    );
    // 41 files in class folders − 3 redundant copies = 38 distinct files, each decoded (or rejected) once.
    expect(progressCalls).toBe(38);
  });

  it('splits stratified, disjoint, and keeps every duplicate group on one side', () => {
    const { train, val, test } = manifest.split;
    expect(test).toEqual([]);
    expect(new Set([...train, ...val]).size).toBe(39);
    expect(train.length + val.length).toBe(39);
    for (const [label, cls] of manifest.classes.entries()) {
      const inVal = val.filter((i) => manifest.files[i]!.label === label).length;
      expect(Math.abs(inVal - Math.round(manifest.counts[cls]! * 0.2)), cls).toBeLessThanOrEqual(1);
    }
    for (const group of manifest.duplicateGroups) {
      const sides = new Set(group.indices.map((i) => (val.includes(i) ? 'val' : 'train')));
      expect(sides.size, group.paths.join()).toBe(1);
    }
  });

  it('converts to greyscale and letterboxes (contain) with black; predict uses the same pixels', async () => {
    const bundle = await loadBundle(store, manifest.hash);
    const at = (rel: string): Uint8Array => {
      const index = manifest.files.find((f) => f.path === rel)!.index;
      return bundle.images.subarray(index * 64, index * 64 + 64);
    };
    // 40×20 white → 8×4 white band in the middle rows, 2 black rows above and below.
    const wide = at('alpha/wide white.png');
    expect([...wide.subarray(0, 16)].every((v) => v === 0)).toBe(true);
    expect([...wide.subarray(16, 48)].every((v) => v === 255)).toBe(true);
    expect([...wide.subarray(48, 64)].every((v) => v === 0)).toBe(true);
    for (const rel of ['alpha/grey (1).png', 'alpha/rgba.png', 'alpha/photo.jpg', 'beta/scan (1).png']) {
      const pixels = await preprocessImage(path.join(dataDir, rel), bundle.preprocessing);
      expect([...pixels], rel).toEqual([...at(rel)]);
      expect(await preprocessImage(await readFile(path.join(dataDir, rel)), bundle.preprocessing)).toEqual(
        pixels,
      );
    }
  });

  it('reuses the bundle without decoding when inputs and options are the same', async () => {
    let calls = 0;
    const again = await prepareDataset({ dataDir, imageSize: 8, store, seed: 7, onProgress: () => calls++ });
    expect(again.reused).toBe(true);
    expect(again.hash).toBe(manifest.hash);
    expect(again.stats.decoded).toBe(0);
    expect(calls).toBe(0);
    expect(again.manifest.split).toEqual(manifest.split);
  });

  it('is deterministic: same hash and bytes in another store, even after renaming files; options change it', async () => {
    const renamedDir = path.join(tmp, 'renamed');
    for (const cls of ['alpha', 'beta', 'gamma'])
      await cp(path.join(dataDir, cls), path.join(renamedDir, cls), { recursive: true });
    await rename(
      path.join(renamedDir, 'alpha', 'img 0.png'),
      path.join(renamedDir, 'alpha', 'zz renamed.png'),
    );

    const other = await freshStore();
    const second = await prepareDataset({ dataDir: renamedDir, imageSize: 8, store: other, seed: 7 });
    expect(second.reused).toBe(false);
    expect(second.hash).toBe(manifest.hash);
    const a = await loadBundle(store, manifest.hash);
    const b = await loadBundle(other, second.hash);
    expect(Buffer.from(b.images).equals(Buffer.from(a.images))).toBe(true);
    expect(b.split).toEqual(a.split);

    const hashes = new Set([manifest.hash]);
    for (const variant of [
      { seed: 8 },
      { imageSize: 9 },
      { resize: 'fill' as const },
      { valFraction: 0.3 },
      { testFraction: 0.1 },
    ]) {
      const r = await prepareDataset({ dataDir, imageSize: 8, seed: 7, store: other, ...variant });
      hashes.add(r.hash);
    }
    expect(hashes.size).toBe(6);
  });

  it('loadBundle: clear errors for a missing or damaged bundle; prepare rebuilds a damaged one', async () => {
    const other = await freshStore();
    const { hash } = await prepareDataset({ dataDir, imageSize: 8, store: other, seed: 7 });
    await expect(loadBundle(other, 'f'.repeat(64))).rejects.toBeInstanceOf(NotFoundError);
    await expect(loadBundle(other, 'nope')).rejects.toBeInstanceOf(InvalidInputError);
    const images = path.join(other.localDir(`datasets/${hash}`), 'images.u8');
    await truncate(images, 10);
    await expect(loadBundle(other, hash)).rejects.toBeInstanceOf(CorruptBundleError);
    const rebuilt = await prepareDataset({ dataDir, imageSize: 8, store: other, seed: 7 });
    expect(rebuilt.reused).toBe(false);
    expect((await loadBundle(other, hash)).images.length).toBe(39 * 64);
    // same length, one byte changed: caught by the sha256 in the manifest
    const bytes = await readFile(images);
    bytes[0] = (bytes[0]! + 1) % 256;
    await writeFile(images, bytes);
    await expect(loadBundle(other, hash)).rejects.toThrow(/does not match its sha256/);
  });
});

describe('prepareDataset input errors', () => {
  it('missing and empty data directories name the path', async () => {
    const store = await freshStore();
    const missing = path.join(tmp, 'does-not-exist');
    await expect(prepareDataset({ dataDir: missing, imageSize: 8, store })).rejects.toThrow(missing);
    const empty = path.join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    const error = await prepareDataset({ dataDir: empty, imageSize: 8, store }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).message).toContain(empty);
    expect((error as InvalidInputError).hint).toMatch(/one sub-folder per class/);
  });

  it('an empty class folder, or one with no decodable image, is an InvalidInputError naming it', async () => {
    const store = await freshStore();
    const root = path.join(tmp, 'empty-class');
    await writeFiles(root, { 'a/x.png': await solidImage(4, 4, 10) });
    await mkdir(path.join(root, 'b'));
    await expect(prepareDataset({ dataDir: root, imageSize: 8, store })).rejects.toThrow(
      `class folder ${path.join(root, 'b')} is empty`,
    );
    await writeFiles(root, { 'b/broken.png': 'garbage' });
    const error = await prepareDataset({ dataDir: root, imageSize: 8, store }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/b has no usable images.*broken\.png: not an image/);
  });

  it('rejects fractions that leave nothing to train on', async () => {
    const store = await freshStore();
    await expect(
      prepareDataset({ dataDir, imageSize: 8, store, valFraction: 0.6, testFraction: 0.5 }),
    ).rejects.toThrow(/leaves nothing to train on/);
  });
});

describe('cross-class duplicates (label noise)', () => {
  it('are skipped by default with a reason, or kept as one group on one side', async () => {
    const root = path.join(tmp, 'cross');
    const shared = await noiseImage({ seed: 500, width: 12, height: 12, channels: 3, format: 'png' });
    const files: Record<string, Buffer> = { 'a/shared.png': shared, 'b/same bytes.png': shared };
    for (let i = 0; i < 5; i++) {
      files[`a/${i}.png`] = await noiseImage({
        seed: 600 + i,
        width: 12,
        height: 12,
        channels: 3,
        format: 'png',
      });
      files[`b/${i}.png`] = await noiseImage({
        seed: 700 + i,
        width: 12,
        height: 12,
        channels: 3,
        format: 'png',
      });
    }
    await writeFiles(root, files);
    const store = await freshStore();

    const skipped = (await prepareDataset({ dataDir: root, imageSize: 8, store })).manifest;
    expect(skipped.count).toBe(10);
    expect(skipped.skipped.map((s) => [s.path, s.reason])).toEqual([
      ['a/shared.png', 'cross-class duplicate: identical bytes in classes a, b'],
      ['b/same bytes.png', 'cross-class duplicate: identical bytes in classes a, b'],
    ]);
    expect(skipped.duplicateGroups).toEqual([
      expect.objectContaining({
        paths: ['a/shared.png', 'b/same bytes.png'],
        indices: [],
        crossClass: true,
        classes: ['a', 'b'],
      }),
    ]);

    const kept = (await prepareDataset({ dataDir: root, imageSize: 8, store, crossClassDuplicates: 'keep' }))
      .manifest;
    expect(kept.count).toBe(12);
    const [group] = kept.duplicateGroups;
    expect(group!.indices).toHaveLength(2);
    const inVal = group!.indices.map((i) => kept.split.val.includes(i));
    expect(inVal[0]).toBe(inVal[1]);
  });
});

describe('preprocessImage', () => {
  const preprocessing = {
    grayscale: true as const,
    resize: 'cover' as const,
    kernel: 'lanczos3',
    imageSize: 4,
  };

  it('returns imageSize² greyscale pixels', async () => {
    const pixels = await preprocessImage(await solidImage(10, 6, 128), preprocessing);
    expect(pixels).toHaveLength(16);
    expect([...pixels].every((v) => v === 128)).toBe(true);
  });

  it('scales 16-bit greyscale PNGs to 8 bits', async () => {
    const raw = new Uint16Array(64).fill(40000);
    const png16 = await sharp(raw, { raw: { width: 8, height: 8, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const pixels = await preprocessImage(png16, preprocessing);
    expect([...pixels].every((v) => Math.abs(v - (40000 / 65535) * 255) <= 1)).toBe(true);
  });

  it('rejects non-images and unreadable paths with InvalidInputError', async () => {
    await expect(
      preprocessImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), preprocessing),
    ).rejects.toThrow(/not an image/);
    await expect(preprocessImage(path.join(tmp, 'nope.png'), preprocessing)).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(
      preprocessImage(await solidImage(4, 4, 1), { ...preprocessing, kernel: 'bogus' }),
    ).rejects.toThrow(/kernel must be one of/);
    const jpeg = await noiseImage({ seed: 9, width: 32, height: 32, channels: 3, format: 'jpeg' });
    await expect(preprocessImage(jpeg.subarray(0, 200), preprocessing)).rejects.toBeInstanceOf(
      InvalidInputError,
    );
  });
});
