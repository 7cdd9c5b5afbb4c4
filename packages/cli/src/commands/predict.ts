import path from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '@braintune/protocol';
import { disposePredictor, initBackend, loadPredictor, predict } from '@braintune/model-core';
import { runRegistryPredict } from '../registry/predict-model.js';
import { predictionTable, predictionJson } from '../registry/prediction-table.js';

interface PredictCliOptions {
  checkpoint?: string;
  model?: string;
  json?: boolean;
  tta?: boolean;
}

/** `braintune predict IMAGE… --checkpoint DIR [--tta] [--json]`: class probabilities and triage of each scan. */
export function register(program: Command): void {
  program
    .command('predict')
    .description('classify scans with a trained checkpoint (or ensemble); low-confidence scans are referred')
    .argument('<images...>', 'JPEG or PNG files')
    .option(
      '--checkpoint <dir>',
      'checkpoint directory written by `braintune train` (contains latest.json), or an ensemble directory',
    )
    .option(
      '--model <name[@alias]>',
      'a registry version instead of a checkpoint: NAME, NAME@ALIAS or NAME@vN (through the API at BRAINTUNE_URL)',
    )
    .option('--tta', 'test-time augmentation: average the scan and its left–right mirror image')
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (images: string[], opts: PredictCliOptions) => {
      if (images.length === 0)
        throw new InvalidInputError('no image given', 'braintune predict scan.jpg --checkpoint DIR');
      if (opts.model !== undefined && opts.checkpoint !== undefined)
        throw new InvalidInputError('give either --checkpoint or --model, not both');
      if (opts.model !== undefined)
        return runRegistryPredict(images, opts.model, { json: opts.json, tta: opts.tta });
      if (opts.checkpoint === undefined)
        throw new InvalidInputError('no model given', 'pass --checkpoint DIR or --model NAME[@ALIAS]');
      await initBackend();
      const loaded = await loadPredictor(path.resolve(opts.checkpoint));
      let predictions;
      try {
        predictions = await predict(
          loaded,
          images.map((i) => path.resolve(i)),
          { tta: opts.tta === true },
        );
      } finally {
        disposePredictor(loaded);
      }
      const rows = predictions.map((p, i) => ({ image: images[i] ?? '', ...p }));
      for (const line of predictionTable(rows)) console.log(line);
      if (opts.json) {
        console.log(
          JSON.stringify({
            checkpoint: path.resolve(opts.checkpoint),
            ...predictionJson(rows, opts.tta === true),
          }),
        );
      }
    });
}
