import path from 'node:path';
import type { Command } from 'commander';
import { openArtifactStore } from '@braintune/artifacts';
import { createLogger, InvalidInputError, readEnv } from '@braintune/protocol';
import {
  initBackend,
  isPresetName,
  presetHyperparameters,
  PRESET_NAMES,
  DEFAULT_PRESET,
  train,
} from '@braintune/model-core';
import { loadBundle, prepareDataset } from '@braintune/model-core/dataset';
import { formatClassificationReport } from '@braintune/model-core/metrics';
import { integerOption } from '../options.js';
import { stderrProgressBar } from '../progress-bar.js';
import { parseHpArgs } from './hp-args.js';

interface TrainCliOptions {
  data: string;
  imageSize: string;
  epochs: string;
  seed: string;
  preset: string;
  hp: string[];
  out?: string;
  json?: boolean;
}

const round = (v: number, digits = 4): number => Math.round(v * 10 ** digits) / 10 ** digits;

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
    .option('--out <dir>', 'checkpoint directory (default: checkpoints/cli/<time> in the artifact store)')
    .option('--json', 'print one JSON summary as the last stdout line')
    .action(async (opts: TrainCliOptions) => {
      const started = performance.now();
      const imageSize = integerOption('--image-size', opts.imageSize, 16, 64);
      const epochs = integerOption('--epochs', opts.epochs, 1, 10);
      const seed = integerOption('--seed', opts.seed, 0, 1);
      if (!isPresetName(opts.preset))
        throw new InvalidInputError(
          `unknown preset "${opts.preset}"`,
          `use one of: ${PRESET_NAMES.join(', ')}`,
        );
      const overrides = parseHpArgs(opts.hp);
      // A cosine schedule spans the run unless its horizon is given explicitly.
      const hparams = presetHyperparameters(opts.preset, {
        scheduleEpochs: epochs,
        ...overrides,
        imageSize: overrides.imageSize ?? imageSize,
      });

      const backend = await initBackend({ logger: createLogger('backend') });
      const env = readEnv();
      const store = openArtifactStore(env.ARTIFACT_ROOT);
      const bar = stderrProgressBar('{phase} [{bar}] {value}/{total} | {status} | {eta_formatted} left');
      try {
        bar.start(1, 0, { phase: 'decode', status: path.resolve(opts.data) });
        const prepared = await prepareDataset({
          store,
          dataDir: path.resolve(opts.data),
          imageSize: hparams.imageSize,
          onProgress: (done, total) => {
            bar.setTotal(total);
            bar.update(done);
          },
        });
        const bundle = await loadBundle(store, prepared.hash);
        bar.stop();

        const checkpointKey = `checkpoints/cli/${new Date().toISOString().replace(/[:.]/g, '-')}`;
        const checkpointDir = opts.out !== undefined ? path.resolve(opts.out) : store.localDir(checkpointKey);
        const batchesPerEpoch = Math.ceil(bundle.split.train.length / hparams.batchSize);
        bar.start(epochs * batchesPerEpoch, 0, { phase: 'train ', status: `epoch 1/${epochs}` });
        let lastStatus = '';
        const result = await train({
          bundle,
          hparams,
          toEpoch: epochs,
          seed,
          checkpointDir,
          baseModels: store,
          onBatch: ({ epoch, batch }) =>
            bar.update((epoch - 1) * batchesPerEpoch + batch, {
              status: `epoch ${epoch}/${epochs}${lastStatus}`,
            }),
          onEpoch: (m) => {
            lastStatus = ` | last: loss ${m.loss.toFixed(3)} acc ${m.accuracy.toFixed(3)} val_acc ${m.valAccuracy.toFixed(3)} ${Math.round(m.trainImagesPerSecond)} img/s`;
          },
        });
        bar.stop();
        if (opts.out === undefined) await store.push(checkpointKey);

        const wallSeconds = (performance.now() - started) / 1000;
        if (result.outcome === 'diverged') {
          console.error('error: training diverged (the loss became NaN or infinite)');
          console.error('hint: lower learningRate, e.g. --hp learningRate=0.0003');
          process.exitCode = 1;
        }
        const evaluation = result.evaluation;
        if (evaluation !== null) {
          console.log(`\n${formatClassificationReport(evaluation.report)}`);
          console.log('confusion matrix (rows: true class, columns: predicted):');
          console.log(`classes: ${evaluation.classes.join(', ')}`);
          for (const row of evaluation.confusionMatrix)
            console.log(`  [${row.map((v) => String(v).padStart(4)).join(' ')} ]`);
        }
        const history = result.history;
        const trainImagesPerSecond =
          history.length === 0 ? 0 : history.reduce((s, h) => s + h.trainImagesPerSecond, 0) / history.length;
        console.log(
          `checkpoint: ${checkpointDir} (${result.epochsDone} epochs, ${result.outcome}, ${wallSeconds.toFixed(0)} s)`,
        );
        if (opts.json) {
          console.log(
            JSON.stringify({
              backend: backend.name,
              imageSize: bundle.imageSize,
              epochs: result.epochsDone,
              trainImagesPerSecond: round(trainImagesPerSecond, 1),
              valAccuracy: evaluation === null ? null : round(evaluation.report.accuracy),
              valMacroF1: evaluation === null ? null : round(evaluation.report.macroAvg.f1),
              classes: bundle.classes,
              confusionMatrix: evaluation?.confusionMatrix ?? null,
              perClass:
                evaluation === null
                  ? null
                  : Object.fromEntries(
                      Object.entries(evaluation.report.perClass).map(([c, m]) => [
                        c,
                        {
                          precision: round(m.precision),
                          recall: round(m.recall),
                          f1: round(m.f1),
                          support: m.support,
                        },
                      ]),
                    ),
              checkpoint: checkpointDir,
              outcome: result.outcome,
              preset: opts.preset,
              seed,
              wallSeconds: round(wallSeconds, 1),
              dataset: prepared.hash,
              hparams,
            }),
          );
        }
        result.model.dispose();
      } finally {
        bar.stop();
      }
    });
}
