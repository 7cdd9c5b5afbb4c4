import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { InvalidInputError } from '@braintune/protocol';
import { makePhantoms } from '@braintune/model-core/phantoms';

function positiveInt(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidInputError(`${name} must be a positive integer, got "${raw}"`, `e.g. ${name} 200`);
  }
  return value;
}

/**
 * `braintune make-phantoms --out DIR --per-class N [--size 256] [--seed 1]`: writes a synthetic
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
    .action(async (opts: { out: string; perClass: string; size: string; seed: string; quality: string }) => {
      const perClass = positiveInt('--per-class', opts.perClass);
      const size = positiveInt('--size', opts.size);
      const quality = positiveInt('--quality', opts.quality);
      const seed = /^-?\d+$/.test(opts.seed) ? Number(opts.seed) : opts.seed;
      const bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: 'phantoms [{bar}] {value}/{total} images | {eta_formatted} left', hideCursor: false },
        cliProgress.Presets.shades_classic,
      );
      bar.start(perClass * 4, 0);
      try {
        const result = await makePhantoms({
          outDir: path.resolve(opts.out),
          perClass,
          size,
          seed,
          quality,
          onProgress: (done) => bar.update(done),
        });
        bar.stop();
        const imagesPerSecond = Math.round((result.files / result.seconds) * 10) / 10;
        console.log(JSON.stringify({ ...result, seconds: Math.round(result.seconds * 100) / 100, imagesPerSecond }));
      } finally {
        bar.stop();
      }
    });
}
