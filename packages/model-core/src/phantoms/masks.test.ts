import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '@braintune/protocol';
import { scanImageFolder } from '../dataset/scan.js';
import {
  LESION_MASK_DIR,
  PHANTOM_CLASSES,
  lesionMaskPath,
  makePhantoms,
  maskCoverage,
  phantomFileName,
  phantomLesionMasks,
  readLesionMasks,
  renderPhantom,
  resampleMask,
  type PhantomClass,
} from './index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'braintune-masks-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

// Byte comparison: vitest's deep equality walks typed arrays element by element (seconds at 128²).
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const count = (m: Uint8Array) => m.reduce((a, v) => a + v, 0);
function centroid(m: Uint8Array, size: number): { x: number; y: number } {
  let [sx, sy, n] = [0, 0, 0];
  for (let i = 0; i < m.length; i++)
    if (m[i]) [sx, sy, n] = [sx + (i % size) + 0.5, sy + Math.floor(i / size) + 0.5, n + 1];
  return { x: sx / n, y: sy / n };
}
function iou(a: Uint8Array, b: Uint8Array): number {
  let [both, either] = [0, 0];
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) both++;
    if (a[i] || b[i]) either++;
  }
  return both / either;
}

describe('mask resampling', () => {
  it('averages areas exactly: a 4×4 block of an 8×8 mask covers one of 2×2 cells, a third of 3×3 cells', () => {
    const mask = new Uint8Array(64);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) mask[y * 8 + x] = 1;
    expect(Array.from(maskCoverage(mask, 8, 2))).toEqual([1, 0, 0, 0]);
    const third = maskCoverage(mask, 8, 3);
    // Output cell 1 spans input 8/3…16/3: 4 − 8/3 = 4/3 of its 8/3 width is inside the block.
    expect(third[0]).toBeCloseTo(1, 6);
    expect(third[1]).toBeCloseTo(0.5, 6);
    expect(third[4]).toBeCloseTo(0.25, 6);
    expect(third[8]).toBeCloseTo(0, 6);
    expect(Array.from(resampleMask(mask, 8, 3))).toEqual([1, 1, 0, 1, 0, 0, 0, 0, 0]);
    expect(() => maskCoverage(mask, 7, 3)).toThrow(InvalidInputError);
  });
});

describe('phantom lesion masks', () => {
  const tumours: PhantomClass[] = ['glioma_tumor', 'meningioma_tumor', 'pituitary_tumor'];

  it('are the renderer’s own masks at the rendered size, and the same lesion at any other size', () => {
    for (const cls of tumours)
      for (let i = 0; i < 3; i++) {
        const options = { cls, size: 128, anatomySeed: `a${i}`, lesionSeed: `l${i}` };
        const rendered = renderPhantom(options);
        const full = phantomLesionMasks(options);
        expect(same(full.core, rendered.lesionMask)).toBe(true);
        expect(same(full.extent, rendered.lesionExtent)).toBe(true);
        // Extent contains the core and more (oedema, cleft, dural tail, sella ring).
        expect(full.core.filter((v, p) => v && !full.extent[p]).length).toBe(0);
        expect(count(full.extent)).toBeGreaterThan(count(full.core));
        // At 48 px: same place (centroid within a pixel) and the same share of the image (±25 %).
        const small = phantomLesionMasks(options, 48);
        const c128 = centroid(rendered.lesionMask, 128);
        const c48 = centroid(small.core, 48);
        expect(Math.hypot(c48.x - (c128.x * 48) / 128, c48.y - (c128.y * 48) / 128)).toBeLessThan(1);
        const share128 = count(rendered.lesionMask) / 128 ** 2;
        expect(count(small.core) / 48 ** 2).toBeGreaterThan(share128 * 0.75);
        expect(count(small.core) / 48 ** 2).toBeLessThan(share128 * 1.25);
        // A phantom rendered directly at 48 px draws its lesion where the resampled mask says.
        const direct = renderPhantom({ ...options, size: 48 });
        expect(iou(direct.lesionMask, small.core), `${cls} #${i}`).toBeGreaterThan(0.6);
      }
  });

  it('cover pixels that the lesion made different from the same head without it', () => {
    // Same anatomy, and the acquisition is seeded by (lesionSeed, class): compare a tumour with
    // itself to see the lesion's pixels differ from its surroundings in the rendered image.
    for (const cls of ['meningioma_tumor', 'pituitary_tumor'] as const) {
      const rendered = renderPhantom({ cls, size: 96, anatomySeed: 'line-up', lesionSeed: 'line-up' });
      const masks = phantomLesionMasks({ cls, size: 96, anatomySeed: 'line-up', lesionSeed: 'line-up' });
      let [inside, n] = [0, 0];
      for (let p = 0; p < masks.core.length; p++)
        if (masks.core[p]) [inside, n] = [inside + rendered.pixels[p]!, n + 1];
      const mean = rendered.pixels.reduce((a, v) => a + v, 0) / rendered.pixels.length;
      // Meningioma and pituitary masses are bright (0.82–1.0 before gain; tissue 0.4–0.75).
      expect(inside / n, cls).toBeGreaterThan(mean * 1.8);
    }
  });
});

describe('makePhantoms({ masks: true })', () => {
  it('writes one mask per tumour scan in a hidden folder, leaves the images byte-identical, and the data set scans as before', async () => {
    const withMasks = path.join(work, 'with');
    const without = path.join(work, 'without');
    const result = await makePhantoms({ outDir: withMasks, perClass: 2, size: 64, seed: 5, masks: true });
    await makePhantoms({ outDir: without, perClass: 2, size: 64, seed: 5 });
    expect(result.masksDir).toBe(path.join(withMasks, LESION_MASK_DIR));
    for (const cls of PHANTOM_CLASSES)
      for (let i = 0; i < 2; i++) {
        const name = phantomFileName(i);
        const a = await readFile(path.join(withMasks, cls, name));
        expect(a.equals(await readFile(path.join(without, cls, name)))).toBe(true);
        const masks = await readLesionMasks(lesionMaskPath(withMasks, cls, name), 48);
        if (cls === 'no_tumor') {
          expect(masks).toBeNull();
          continue;
        }
        const expected = phantomLesionMasks(
          { cls, size: 64, anatomySeed: `5:${cls}:${i}`, lesionSeed: `5:${i}` },
          48,
        );
        expect(same(masks!.core, expected.core) && same(masks!.extent, expected.extent)).toBe(true);
        expect(count(masks!.core)).toBeGreaterThan(0);
      }
    expect((await readdir(path.join(withMasks, LESION_MASK_DIR))).sort()).toEqual([
      'glioma_tumor',
      'meningioma_tumor',
      'pituitary_tumor',
    ]);
    const scanned = await scanImageFolder(withMasks);
    expect(scanned.classes).toEqual([...PHANTOM_CLASSES]);
    // Regenerating without masks removes the old ones: no stale lesion pairs with a new image.
    await makePhantoms({ outDir: withMasks, perClass: 1, size: 64, seed: 6 });
    await expect(readdir(path.join(withMasks, LESION_MASK_DIR))).rejects.toThrow(/ENOENT/);
  });
});
