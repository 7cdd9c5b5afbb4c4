import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { loadBundle, prepareDataset } from './index.js';

process.env.LOG_LEVEL ??= 'silent';

// The shared data set lives next to the repository (`../shared/datasets/…`), never inside it.
const DATA_DIR =
  process.env.BRAINTUNE_DATASET ??
  path.resolve(
    path.dirname(fileURLToPath(import.meta.url)),
    '../../../../../shared/datasets/brain-tumor-mri',
  );
const present = existsSync(DATA_DIR);
if (!present)
  console.warn(`real-data dataset test skipped: ${DATA_DIR} not found (set BRAINTUNE_DATASET to its path)`);

describe.skipIf(!present)(`shared brain-MRI data set (${DATA_DIR}) at 32 px`, () => {
  let root: string | undefined;
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('has the known class counts, 93 redundant byte-identical copies, none across classes, no byte-identical or near-duplicate group straddling the split', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'braintune-real-data-'));
    const store = new FilesystemArtifactStore(root);
    const { manifest, hash } = await prepareDataset({ dataDir: DATA_DIR, imageSize: 32, store });

    expect(manifest.classes).toEqual(['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor']);
    expect(manifest.counts).toEqual({
      glioma_tumor: 826,
      meningioma_tumor: 822,
      no_tumor: 395,
      pituitary_tumor: 827,
    });
    expect(manifest.skipped).toEqual([]);

    const groups = manifest.duplicateGroups;
    const copies = groups.reduce((n, g) => n + g.paths.length, 0);
    expect(copies - groups.length).toBe(93); // files that are a byte-identical copy of another
    expect(groups).toHaveLength(73);
    expect(groups.filter((g) => g.crossClass)).toEqual([]);

    const val = new Set(manifest.split.val);
    for (const g of groups)
      expect(new Set(g.indices.map((i) => val.has(i))).size, g.paths.join(', ')).toBe(1);
    expect(manifest.split.val.length).toBeGreaterThan(0.19 * 2870);
    expect(manifest.split.val.length).toBeLessThan(0.21 * 2870);

    // Near-duplicate groups (dHash+pHash ≤ 8): measured 528 groups of 2+, largest 30, 1,321
    // pairs, 27 across classes; none may straddle the split.
    const report = manifest.nearDuplicates;
    expect(report?.threshold).toBe(8);
    expect(report?.groups).toBeGreaterThan(400);
    expect(report?.largestGroup.size).toBeLessThan(100);
    expect(report?.crossClassPairs).toBeLessThan(100);
    const sideOfGroup = new Map<number, boolean>();
    for (const f of manifest.files) {
      const inVal = val.has(f.index);
      expect(sideOfGroup.get(f.group as number) ?? inVal, f.path).toBe(inVal);
      sideOfGroup.set(f.group as number, inVal);
    }

    const bundle = await loadBundle(store, hash);
    expect(bundle.images.length).toBe(2870 * 32 * 32);
  });
});
