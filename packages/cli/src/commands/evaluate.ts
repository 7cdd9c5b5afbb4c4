import path from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '@braintune/protocol';
import { evaluateCheckpointOnFolder, initBackend, loadCheckpoint } from '@braintune/model-core';
import { evaluateRegistryModel } from '../registry/evaluate-model.js';
import { printTestReport, testScoreJson } from '../test-report.js';

interface EvaluateCliOptions {
  checkpoint?: string;
  model?: string;
  data: string;
  json?: boolean;
}

/**
 * `braintune evaluate (--checkpoint DIR | --model NAME[@ALIAS]) --data DIR [--json]`: scores a
 * model on an ImageFolder decoded with the model's recorded preprocessing; prints the seed's
 * report and with --json one line {accuracy, macroF1, perClass, confusionMatrix, images, classes, …}.
 */
export function register(program: Command): void {
  program
    .command('evaluate')
    .description(
      'score a trained model on an ImageFolder test set (class folders named like the model classes)',
    )
    .requiredOption('--data <dir>', 'ImageFolder: one sub-folder per class, a subset of the model classes')
    .option('--checkpoint <dir>', 'checkpoint directory written by `braintune train` (contains latest.json)')
    .option(
      '--model <name[@alias]>',
      'a registry version instead: NAME, NAME@ALIAS or NAME@vN (through the API at BRAINTUNE_URL)',
    )
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (opts: EvaluateCliOptions) => {
      if (opts.model !== undefined && opts.checkpoint !== undefined)
        throw new InvalidInputError('give either --checkpoint or --model, not both');
      const data = path.resolve(opts.data);
      if (opts.model !== undefined) {
        const r = await evaluateRegistryModel(opts.model, data);
        printTestReport(`${r.model} v${r.version} on ${data}`, r.evaluation, r.skipped);
        if (opts.json)
          console.log(
            JSON.stringify({
              ...testScoreJson(r.evaluation.score),
              classes: r.evaluation.report.classes,
              model: r.model,
              version: r.version,
              data,
              skipped: r.skipped,
            }),
          );
        return;
      }
      if (opts.checkpoint === undefined)
        throw new InvalidInputError('no model given', 'pass --checkpoint DIR or --model NAME[@ALIAS]');
      await initBackend();
      const checkpoint = path.resolve(opts.checkpoint);
      const loaded = await loadCheckpoint(checkpoint);
      try {
        const r = await evaluateCheckpointOnFolder(loaded, data);
        printTestReport(`${checkpoint} on ${data}`, r, r.skipped);
        if (opts.json)
          console.log(
            JSON.stringify({
              ...testScoreJson(r.score),
              classes: r.report.classes,
              checkpoint,
              data,
              skipped: r.skipped,
            }),
          );
      } finally {
        loaded.model.dispose();
      }
    });
}
