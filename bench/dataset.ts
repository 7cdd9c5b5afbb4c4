/**
 * Dataset preparation on the shared data set: first (decode) and reused (hash only) runs at
 * 64 and 128 px, into a fresh temp artifact store. Prints one JSON object as the last line.
 * Usage: npm run bench:dataset [-- DATA_DIR] [-- --concurrency N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openArtifactStore } from '@braintune/artifacts';
import { prepareDataset } from '@braintune/model-core/dataset';

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
try {
  for (const imageSize of [64, 128]) {
    const first = await prepareDataset({
      dataDir,
      imageSize,
      store,
      ...(concurrency ? { concurrency } : {}),
    });
    const again = await prepareDataset({
      dataDir,
      imageSize,
      store,
      ...(concurrency ? { concurrency } : {}),
    });
    results[`px${imageSize}`] = {
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
      split: { train: first.manifest.split.train.length, val: first.manifest.split.val.length },
    };
    console.error(JSON.stringify({ imageSize, ...(results[`px${imageSize}`] as object) }));
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
