/**
 * `npm run bench:phantoms [-- --per-class 100 --size 256]`
 *
 * Speed of the phantom generator: renders and JPEG-encodes perClass × 4 images into a temp
 * directory, three times, and reports the best and median images/s. The last stdout line is JSON.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makePhantoms, renderPhantom } from '@braintune/model-core/phantoms';

const { values: args } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '100' },
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
  },
});
const perClass = Number(args['per-class']);
const size = Number(args.size);
const runs = Number(args.runs);
const work = await mkdtemp(path.join(tmpdir(), 'braintune-bench-phantoms-'));
try {
  // Rendering alone (no encoding, no disk), to separate the pixel maths from sharp.
  const n = perClass * 4;
  const r0 = performance.now();
  for (let i = 0; i < n; i++) renderPhantom({ cls: 'glioma_tumor', size, anatomySeed: i, lesionSeed: i });
  const renderPerSecond = n / ((performance.now() - r0) / 1000);

  const rates: number[] = [];
  for (let run = 0; run < runs; run++) {
    const result = await makePhantoms({ outDir: path.join(work, `run-${run}`), perClass, size, seed: run });
    rates.push(result.files / result.seconds);
    console.error(`[bench:phantoms] run ${run + 1}: ${result.files} files in ${result.seconds.toFixed(2)} s`);
  }
  rates.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      size,
      imagesPerRun: n,
      runs,
      imagesPerSecondBest: round(rates.at(-1)!),
      imagesPerSecondMedian: round(rates[Math.floor(rates.length / 2)]!),
      renderOnlyImagesPerSecond: round(renderPerSecond),
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
