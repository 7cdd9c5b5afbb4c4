import path from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '@braintune/protocol';
import { initBackend, loadCheckpoint, predict } from '@braintune/model-core';
import { runRegistryPredict } from '../registry/predict-model.js';

/** `braintune predict IMAGE… --checkpoint DIR [--json]`: class probabilities of each scan. */
export function register(program: Command): void {
  program
    .command('predict')
    .description('classify scans with a trained checkpoint')
    .argument('<images...>', 'JPEG or PNG files')
    .option('--checkpoint <dir>', 'checkpoint directory written by `braintune train` (contains latest.json)')
    .option(
      '--model <name[@alias]>',
      'a registry version instead of a checkpoint: NAME, NAME@ALIAS or NAME@vN (through the API at BRAINTUNE_URL)',
    )
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (images: string[], opts: { checkpoint?: string; model?: string; json?: boolean }) => {
      if (images.length === 0)
        throw new InvalidInputError('no image given', 'braintune predict scan.jpg --checkpoint DIR');
      if (opts.model !== undefined && opts.checkpoint !== undefined)
        throw new InvalidInputError('give either --checkpoint or --model, not both');
      if (opts.model !== undefined) return runRegistryPredict(images, opts.model, { json: opts.json });
      if (opts.checkpoint === undefined)
        throw new InvalidInputError('no model given', 'pass --checkpoint DIR or --model NAME[@ALIAS]');
      await initBackend();
      const loaded = await loadCheckpoint(path.resolve(opts.checkpoint));
      const predictions = await predict(
        loaded,
        images.map((i) => path.resolve(i)),
      );
      loaded.model.dispose();
      const classes = loaded.state.classes;
      const width = Math.max(5, ...images.map((i) => i.length));
      console.log(
        `${'image'.padEnd(width)}  ${'predicted'.padEnd(18)}${classes.map((c) => c.padStart(Math.max(10, c.length + 2))).join('')}`,
      );
      predictions.forEach((p, i) => {
        console.log(
          `${(images[i] ?? '').padEnd(width)}  ${p.predicted.padEnd(18)}${p.probabilities.map((v, j) => v.toFixed(4).padStart(Math.max(10, (classes[j] ?? '').length + 2))).join('')}`,
        );
      });
      if (opts.json) {
        console.log(
          JSON.stringify({
            checkpoint: path.resolve(opts.checkpoint),
            classes,
            predictions: predictions.map((p, i) => ({
              image: images[i],
              predicted: p.predicted,
              probabilities: Object.fromEntries(classes.map((c, j) => [c, p.probabilities[j]])),
            })),
          }),
        );
      }
    });
}
