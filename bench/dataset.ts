/**
 * Dataset preparation on the shared data set: first (decode) and reused (hash only) runs at
 * 64 and 128 px, then 64 px with head crop and each intensity standardisation, into a fresh
 * temp artifact store; and the near-duplicate grouping at several thresholds (from the
 * perceptual hashes recorded in the 64 px manifest). Prints one JSON object as the last line.
 * Usage: npm run bench:dataset [-- DATA_DIR] [-- --concurrency N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openArtifactStore } from '@braintune/artifacts';
import {
  groupForSplit,
  hashFromHex,
  prepareDataset,
  splitSummary,
  stratifiedGroupSplit,
  type BundleManifest,
  type PerceptualHash,
  type PrepareOptionsInput,
} from '@braintune/model-core/dataset';

const args = process.argv.slice(2);
const concurrencyFlag = args.indexOf('--concurrency');
const concurrency = concurrencyFlag >= 0 ? Number(args[concurrencyFlag + 1]) : undefined;
const dataDir =
  args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--concurrency') ??
  '../shared/datasets/brain-tumor-mri';
if (!existsSync(dataDir)) {
  console.error(
    `bench:dataset skipped: data set not found at ${dataDir}; pass its path as the first argument`,
  );
  console.log(JSON.stringify({ bench: 'dataset', skipped: true, reason: `not found: ${dataDir}` }));
  process.exit(0);
}

const root = await mkdtemp(path.join(os.tmpdir(), 'braintune-bench-dataset-'));
const store = openArtifactStore(root);
const results: Record<string, unknown> = {
  dataDir,
  concurrency: concurrency ?? 'default',
  cpus: os.availableParallelism(),
};

const variants: [string, Partial<PrepareOptionsInput> & { imageSize: number }][] = [
  ['px64', { imageSize: 64 }],
  ['px128', { imageSize: 128 }],
  ['px64HeadCrop', { imageSize: 64, headCrop: true }],
  ['px64HeadCropPercentile', { imageSize: 64, headCrop: true, intensity: 'percentile' }],
  ['px64HeadCropEqualize', { imageSize: 64, headCrop: true, intensity: 'equalize' }],
  ['px64HeadCropClahe', { imageSize: 64, headCrop: true, intensity: 'clahe' }],
];

/** Groups, pairs and split sizes at other thresholds, from the hashes in a manifest (no decoding). */
function thresholdTable(manifest: BundleManifest, thresholds: (number | null)[]): Record<string, unknown> {
  const hashes = new Map<string, PerceptualHash>();
  for (const f of manifest.files) if (f.phash) hashes.set(f.sha256, hashFromHex(f.phash));
  const table: Record<string, unknown> = {};
  for (const threshold of thresholds) {
    const grouping = groupForSplit(manifest.files, manifest.classes, hashes, threshold);
    const split = stratifiedGroupSplit(grouping.groups, manifest.options);
    table[threshold === null ? 'off' : String(threshold)] = splitSummary(split, grouping.report);
  }
  return table;
}

try {
  for (const [name, variant] of variants) {
    const options = { dataDir, store, ...variant, ...(concurrency ? { concurrency } : {}) };
    const first = await prepareDataset(options);
    const again = await prepareDataset(options);
    results[name] = {
      firstMs: Math.round(first.stats.totalMs),
      firstHashMs: Math.round(first.stats.hashMs),
      firstDecodeMs: Math.round(first.stats.decodeMs),
      decoded: first.stats.decoded,
      imagesPerSecond: Math.round(first.stats.decoded / (first.stats.decodeMs / 1000)),
      reusedMs: Math.round(again.stats.totalMs),
      reused: again.reused,
      images: first.manifest.count,
      skipped: first.manifest.skipped.length,
      duplicateGroups: first.manifest.duplicateGroups.length,
      split: first.split,
    };
    console.error(JSON.stringify({ name, ...(results[name] as object) }));
    if (name === 'px64') {
      results.thresholds = thresholdTable(first.manifest, [null, 4, 6, 8, 10, 12]);
      console.error(JSON.stringify({ thresholds: results.thresholds }));
    }
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
