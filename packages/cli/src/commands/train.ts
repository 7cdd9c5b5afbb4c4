import path from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '@braintune/protocol';
import { isPresetName, presetHyperparameters, PRESET_NAMES, DEFAULT_PRESET } from '@braintune/model-core';
import { integerOption } from '../options.js';
import {
  nearDuplicateThresholdOption,
  preprocessingFlags,
  type PreprocessingFlags,
} from './train-options.js';
import { parseHpArgs } from './hp-args.js';
import { runTraining, type TrainSettings } from './train-run.js';

interface TrainCliOptions extends PreprocessingFlags {
  nearDuplicateThreshold?: string;
  data: string;
  imageSize: string;
  epochs: string;
  seed: string;
  preset: string;
  hp: string[];
  out?: string;
  test?: string;
  json?: boolean;
}

/**
 * `braintune train --data DIR …`: prepares (or reuses) the dataset bundle in the artifact store,
 * trains one model in-process with a progress bar on stderr, prints the classification report in
 * the seed's layout and saves a checkpoint. With --json the last stdout line is one JSON object.
 */
export function register(program: Command): void {
  program
    .command('train')
    .description('train one model on an ImageFolder data set and print its validation report')
    .requiredOption('--data <dir>', 'ImageFolder directory: one sub-folder of JPEG/PNG scans per class')
    .option('--image-size <px>', 'side length the scans are resized to', '64')
    .option('--epochs <n>', 'epochs to train', '10')
    .option('--seed <n>', 'seed of weights, shuffling, augmentation and dropout', '1')
    .option('--preset <name>', `hyperparameter preset (${PRESET_NAMES.join(', ')})`, DEFAULT_PRESET)
    .option(
      '--hp <key=value>',
      'override one hyperparameter (repeatable), e.g. --hp learningRate=0.001',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--near-duplicate-threshold <n|off>',
      'near-duplicate split: images whose dHash and pHash are within n bits stay on one side (off = byte-identical copies only; default 8)',
    )
    .option('--head-crop', 'crop each scan to the head (square, plus --crop-margin) before the resize')
    .option(
      '--crop-margin <fraction>',
      'margin around the head box, as a fraction of its side (default 0.05)',
    )
    .option('--intensity <method>', 'intensity standardisation: none, percentile, equalize or clahe')
    .option('--out <dir>', 'checkpoint directory (default: checkpoints/cli/<time> in the artifact store)')
    .option(
      '--test <dir>',
      'external test set (ImageFolder, class folders a subset of the training classes) scored with the saved checkpoint',
    )
    .option('--json', 'print one JSON summary as the last stdout line')
    .action(runTrainCommand);
}

async function runTrainCommand(opts: TrainCliOptions): Promise<void> {
  const started = performance.now();
  await runTraining(trainSettings(opts), started);
}

/** The options checked (an InvalidInputError names the first bad one) and resolved to hyperparameters. */
function trainSettings(opts: TrainCliOptions): TrainSettings {
  const imageSize = integerOption('--image-size', opts.imageSize, 16, 64);
  const epochs = integerOption('--epochs', opts.epochs, 1, 10);
  const seed = integerOption('--seed', opts.seed, 0, 1);
  if (!isPresetName(opts.preset))
    throw new InvalidInputError(`unknown preset "${opts.preset}"`, `use one of: ${PRESET_NAMES.join(', ')}`);
  const parsedHp = parseHpArgs(opts.hp);
  // Flags win over --hp for the same field; both end up in hparams.preprocessing.
  const overrides = {
    ...parsedHp,
    preprocessing: { ...parsedHp.preprocessing, ...preprocessingFlags(opts) },
  };
  const nearDuplicateThreshold = nearDuplicateThresholdOption(opts.nearDuplicateThreshold);
  // A cosine schedule spans the run unless its horizon is given explicitly.
  const hparams = presetHyperparameters(opts.preset, {
    scheduleEpochs: epochs,
    ...overrides,
    imageSize: overrides.imageSize ?? imageSize,
  });
  return {
    dataDir: path.resolve(opts.data),
    epochs,
    seed,
    preset: opts.preset,
    hparams,
    nearDuplicateThreshold,
    testDir: opts.test === undefined ? undefined : path.resolve(opts.test),
    outDir: opts.out === undefined ? undefined : path.resolve(opts.out),
    json: opts.json === true,
  };
}
