import path from 'node:path';
import { InvalidInputError } from '@braintune/protocol';
import { mapWithConcurrency } from '../dataset/pool.js';
import { preprocessImage, type Preprocessing } from '../dataset/preprocess.js';
import { scanImageFolder } from '../dataset/scan.js';
import type { DatasetBundle } from '../dataset/types.js';
import { mapTestClasses } from './test-set.js';

export interface TestFolder {
  /** Every readable image of the folder, in memory (split: all in `test`). */
  bundle: DatasetBundle;
  /** Files that could not be used, with the reason (never fatal: listed in the report). */
  skipped: { path: string; reason: string }[];
}

/**
 * Reads an ImageFolder as a test set for a model: class folders are checked against the
 * model's classes first (before any decoding), then every file is decoded with the
 * model's recorded preprocessing, passed on whole so new pipeline fields apply unchanged.
 */
export async function readTestFolder(
  dataDir: string,
  modelClasses: readonly string[],
  preprocessing: Preprocessing,
): Promise<TestFolder> {
  const root = path.resolve(dataDir);
  const scanned = await scanImageFolder(root);
  mapTestClasses(modelClasses, scanned.classes, root);
  const skipped: TestFolder['skipped'] = scanned.ignored.map((i) => ({ path: i.path, reason: i.reason }));
  const decoded = await mapWithConcurrency(scanned.files, 8, async (file) => {
    try {
      return await preprocessImage(file.absPath, preprocessing);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      skipped.push({ path: file.relPath, reason: error.message });
      return null;
    }
  });
  const size = preprocessing.imageSize;
  const kept = scanned.files.flatMap((f, i) => {
    const pixels = decoded[i];
    return pixels ? [{ label: f.label, pixels }] : [];
  });
  if (kept.length === 0)
    throw new InvalidInputError(
      `test set ${root} has no readable images`,
      'add JPEG/PNG scans to its class folders',
    );
  const images = new Uint8Array(kept.length * size * size);
  const labels = new Uint8Array(kept.length);
  kept.forEach((k, i) => {
    images.set(k.pixels, i * size * size);
    labels[i] = k.label;
  });
  return {
    bundle: {
      hash: `folder:${root}`,
      classes: scanned.classes,
      imageSize: size,
      images,
      labels,
      split: { train: [], val: [], test: kept.map((_, i) => i) },
      preprocessing,
    },
    skipped: skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
}
