import path from 'node:path';
import type { Command } from 'commander';
import { makePhantoms } from '@braintune/model-core/phantoms';
import { integerOption } from '../options.js';
import { stderrProgressBar } from '../progress-bar.js';

interface CliOptions {
  out: string;
  perClass: string;
  size: string;
  seed: string;
  quality: string;
  masks?: boolean;
}

/**
 * `braintune make-phantoms --out DIR --per-class N [--size 256] [--seed 1] [--masks]`: writes a synthetic
 * brain-MRI data set in the Kaggle ImageFolder layout, for demos on machines without the real data.
 * Progress goes to stderr; the last stdout line is a JSON summary.
 */
export function register(program: Command): void {
  program
    .command('make-phantoms')
    .description('generate synthetic brain-MRI-like slices (4 classes, ImageFolder layout, JPEG)')
    .requiredOption('--out <dir>', 'output directory (class folders inside it are replaced)')
    .option('--per-class <n>', 'images per class', '200')
    .option('--size <px>', 'side length in pixels', '256')
    .option('--seed <seed>', 'seed: the same seed gives byte-identical files', '1')
    .option('--quality <q>', 'JPEG quality', '90')
    .option('--masks', 'also write lesion masks (PNG) under <out>/.lesions/<class>/ for the pointing game')
    .action(async (opts: CliOptions) => {
      const perClass = integerOption('--per-class', opts.perClass, 1, 200);
      const size = integerOption('--size', opts.size, 1, 256);
      const quality = integerOption('--quality', opts.quality, 1, 90);
      const seed = /^-?\d+$/.test(opts.seed) ? Number(opts.seed) : opts.seed;
      const bar = stderrProgressBar('phantoms [{bar}] {value}/{total} images | {eta_formatted} left');
      bar.start(perClass * 4, 0);
      try {
        const result = await makePhantoms({
          outDir: path.resolve(opts.out),
          perClass,
          size,
          seed,
          quality,
          masks: opts.masks === true,
          onProgress: (done) => bar.update(done),
        });
        bar.stop();
        const imagesPerSecond = Math.round((result.files / result.seconds) * 10) / 10;
        console.log(
          JSON.stringify({ ...result, seconds: Math.round(result.seconds * 100) / 100, imagesPerSecond }),
        );
      } finally {
        bar.stop();
      }
    });
}
