import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '@braintune/protocol';
import { PHANTOM_CLASSES, makePhantoms, phantomFileName, renderPhantom, type PhantomClass } from './index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'braintune-phantoms-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const cls of (await readdir(dir)).sort()) {
    for (const f of (await readdir(path.join(dir, cls))).sort()) out.push(`${cls}/${f}`);
  }
  return out;
}

async function meanIntensity(file: string): Promise<number> {
  const { data } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
  let sum = 0;
  for (const v of data) sum += v;
  return sum / data.length;
}

/** Head-normalised coordinates (u, v) of a pixel, as the renderer uses them. */
function headCoords(
  head: ReturnType<typeof renderPhantom>['head'],
  x: number,
  y: number,
): { u: number; v: number } {
  const dx = x + 0.5 - head.cx;
  const dy = y + 0.5 - head.cy;
  const c = Math.cos(head.angle);
  const s = Math.sin(head.angle);
  return { u: (dx * c + dy * s) / head.ax, v: (-dx * s + dy * c) / head.ay };
}

describe('makePhantoms', () => {
  it('writes an ImageFolder tree of JPEGs with perClass files per class at the requested size', async () => {
    const out = path.join(work, 'layout');
    const result = await makePhantoms({ outDir: out, perClass: 3, size: 48, seed: 7 });
    expect(result.files).toBe(12);
    expect((await readdir(out)).sort()).toEqual([...PHANTOM_CLASSES]);
    const files = await listTree(out);
    expect(files).toHaveLength(12);
    for (const cls of PHANTOM_CLASSES) {
      expect(files.filter((f) => f.startsWith(`${cls}/`))).toEqual(
        [0, 1, 2].map((i) => `${cls}/${phantomFileName(i)}`),
      );
    }
    const meta = await sharp(path.join(out, 'glioma_tumor', phantomFileName(0))).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([48, 48]);
  });

  it('is deterministic: the same seed gives byte-identical files, another seed different ones', async () => {
    const a = path.join(work, 'det-a');
    const b = path.join(work, 'det-b');
    const c = path.join(work, 'det-c');
    await makePhantoms({ outDir: a, perClass: 2, size: 64, seed: 42 });
    await makePhantoms({ outDir: b, perClass: 2, size: 64, seed: 42 });
    await makePhantoms({ outDir: c, perClass: 2, size: 64, seed: 43 });
    const files = await listTree(a);
    expect(await listTree(b)).toEqual(files);
    let differ = 0;
    for (const f of files) {
      const bytesA = await readFile(path.join(a, f));
      expect((await readFile(path.join(b, f))).equals(bytesA)).toBe(true);
      if (!(await readFile(path.join(c, f))).equals(bytesA)) differ++;
    }
    expect(differ).toBe(files.length);
  });

  it('replaces stale files when regenerated with fewer images', async () => {
    const out = path.join(work, 'shrink');
    await makePhantoms({ outDir: out, perClass: 3, size: 32 });
    await makePhantoms({ outDir: out, perClass: 1, size: 32 });
    expect(await listTree(out)).toHaveLength(4);
  });

  it('rejects bad options with a typed error', async () => {
    await expect(makePhantoms({ outDir: path.join(work, 'bad'), perClass: 0 })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(
      makePhantoms({ outDir: path.join(work, 'bad'), perClass: 1, size: 8 }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('is not separable by mean intensity alone: a nearest-centroid classifier stays near chance', async () => {
    const train = path.join(work, 'mean-train');
    const test = path.join(work, 'mean-test');
    await makePhantoms({ outDir: train, perClass: 40, size: 64, seed: 'train' });
    await makePhantoms({ outDir: test, perClass: 40, size: 64, seed: 'held-out' });
    const centroids = new Map<string, number>();
    for (const cls of PHANTOM_CLASSES) {
      const files = await readdir(path.join(train, cls));
      let sum = 0;
      for (const f of files) sum += await meanIntensity(path.join(train, cls, f));
      centroids.set(cls, sum / files.length);
    }
    let correct = 0;
    let total = 0;
    for (const cls of PHANTOM_CLASSES) {
      for (const f of await readdir(path.join(test, cls))) {
        const m = await meanIntensity(path.join(test, cls, f));
        let best = '';
        let bestDistance = Infinity;
        for (const [name, centroid] of centroids) {
          if (Math.abs(m - centroid) < bestDistance) [best, bestDistance] = [name, Math.abs(m - centroid)];
        }
        if (best === cls) correct++;
        total++;
      }
    }
    expect(total).toBe(160);
    // Chance is 0.25; 0.40 is more than four standard deviations above it for 160 images.
    expect(correct / total).toBeLessThan(0.4);
  });
});

describe('renderPhantom lesions', () => {
  const size = 128;
  const render = (cls: PhantomClass, i: number) =>
    renderPhantom({ cls, size, anatomySeed: `anat-${i}`, lesionSeed: `lesion-${i}` });

  /** Lesion pixels in head coordinates. */
  function lesionPoints(p: ReturnType<typeof renderPhantom>): Array<{ u: number; v: number }> {
    const points: Array<{ u: number; v: number }> = [];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) if (p.lesionMask[y * size + x]) points.push(headCoords(p.head, x, y));
    }
    return points;
  }

  it('draws no lesion for no_tumor and a lesion for every tumour class', () => {
    for (let i = 0; i < 10; i++) {
      expect(lesionPoints(render('no_tumor', i))).toHaveLength(0);
      for (const cls of ['glioma_tumor', 'meningioma_tumor', 'pituitary_tumor'] as const) {
        expect(lesionPoints(render(cls, i)).length, `${cls} #${i}`).toBeGreaterThan(5);
      }
    }
  });

  it('places each lesion where its anatomy says: glioma intra-axial, meningioma at the dura, pituitary small on the midline at the sella', () => {
    for (let i = 0; i < 10; i++) {
      const glioma = lesionPoints(render('glioma_tumor', i));
      const meningioma = lesionPoints(render('meningioma_tumor', i));
      const pituitary = lesionPoints(render('pituitary_tumor', i));
      const radius = (p: { u: number; v: number }) => Math.hypot(p.u, p.v);
      const centroid = (ps: Array<{ u: number; v: number }>) => ({
        u: ps.reduce((s, p) => s + p.u, 0) / ps.length,
        v: ps.reduce((s, p) => s + p.v, 0) / ps.length,
      });
      // Glioma: inside the brain parenchyma, not touching the skull.
      expect(Math.max(...glioma.map(radius))).toBeLessThan(0.85);
      // Meningioma: reaches the inner table of the skull (dural attachment), round and large.
      expect(Math.max(...meningioma.map(radius))).toBeGreaterThan(0.8);
      // Pituitary: on the midline, anterior, and the smallest of the three.
      const c = centroid(pituitary);
      expect(Math.abs(c.u)).toBeLessThan(0.06);
      expect(c.v).toBeLessThan(-0.25);
      expect(c.v).toBeGreaterThan(-0.5);
      expect(pituitary.length).toBeLessThan(glioma.length);
      expect(pituitary.length).toBeLessThan(meningioma.length);
    }
  });

  it('takes the head pose from the anatomy seed alone, whatever the class', () => {
    const healthy = render('no_tumor', 3);
    const tumour = render('meningioma_tumor', 3);
    expect(tumour.head).toEqual(healthy.head);
  });
});
