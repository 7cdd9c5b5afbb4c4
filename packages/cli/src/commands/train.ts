import path from 'node:path';
import type { Command } from 'commander';
import { openArtifactStore } from '@braintune/artifacts';
import { createLogger, InvalidInputError, readEnv, type SplitSummary } from '@braintune/protocol';
import {
  evaluateCheckpointOnFolder,
  initBackend,
  isPresetName,
  loadCheckpoint,
  mapTestClasses,
  presetHyperparameters,
  PRESET_NAMES,
  DEFAULT_PRESET,
  calibrate,
  train,
} from '@braintune/model-core';
import type { Calibration } from '@braintune/protocol';
import { loadBundle, prepareDataset, scanImageFolder } from '@braintune/model-core/dataset';
import { formatClassificationReport } from '@braintune/model-core/metrics';
import { integerOption } from '../options.js';
import {
  nearDuplicateThresholdOption,
  preprocessingFlags,
  type PreprocessingFlags,
} from './train-options.js';
import { stderrProgressBar } from '../progress-bar.js';
import { printTestReport, testScoreJson } from '../test-report.js';
import { parseHpArgs } from './hp-args.js';

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

const round = (v: number, digits = 4): number => Math.round(v * 10 ** digits) / 10 ** digits;

function formatCalibration(c: Calibration): string {
  const op = c.operatingPoint;
  return [
    `calibration: temperature ${c.temperature.toFixed(3)}, ECE ${c.eceBefore.toFixed(4)} → ${c.eceAfter.toFixed(4)} (15 bins, ${c.images} validation scans)`,
    `operating point: refer below confidence ${op.threshold.toFixed(4)} → ${(op.referralRate * 100).toFixed(1)} % referred, ${(op.acceptedErrorRate * 100).toFixed(1)} % errors on the rest (target ${op.targetError * 100} %${op.targetMet ? '' : ', not met within ' + op.maxReferral * 100 + ' % referrals'})`,
  ].join('\n');
}

function calibrationJson(c: Calibration): Record<string, unknown> {
  const op = c.operatingPoint;
  return {
    temperature: round(c.temperature),
    eceBefore: round(c.eceBefore),
    eceAfter: round(c.eceAfter),
    nllBefore: round(c.nllBefore),
    nllAfter: round(c.nllAfter),
    threshold: round(op.threshold),
    referralRate: round(op.referralRate),
    acceptedErrorRate: round(op.acceptedErrorRate),
    targetError: op.targetError,
    maxReferral: op.maxReferral,
    targetMet: op.targetMet,
  };
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
          ...hparams.preprocessing,
          ...(nearDuplicateThreshold === undefined ? {} : { nearDuplicateThreshold }),
          onProgress: (done, total) => {
            bar.setTotal(total);
            bar.update(done);
          },
        });
        const bundle = await loadBundle(store, prepared.hash);
        bar.stop();
        console.log(formatSplit(prepared.split));
        // A misnamed test folder must fail before minutes of training, not after.
        const testDir = opts.test === undefined ? undefined : path.resolve(opts.test);
        if (testDir !== undefined)
          mapTestClasses(bundle.classes, (await scanImageFolder(testDir)).classes, testDir);

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
        const calibration =
          result.evaluation === null ? null : await calibrate(result.model, bundle, { checkpointDir });
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
        if (calibration !== null) console.log(formatCalibration(calibration));
        // Scored from the checkpoint on disk, exactly as `braintune evaluate --checkpoint` does.
        let test: ReturnType<typeof testScoreJson> | undefined;
        if (testDir !== undefined && result.epochsDone > 0) {
          const loaded = await loadCheckpoint(checkpointDir);
          try {
            const scored = await evaluateCheckpointOnFolder(loaded, testDir);
            printTestReport(`test set ${testDir}:`, scored, scored.skipped);
            test = testScoreJson(scored.score);
          } finally {
            loaded.model.dispose();
          }
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
              calibration: calibration === null ? null : calibrationJson(calibration),
              checkpoint: checkpointDir,
              outcome: result.outcome,
              preset: opts.preset,
              seed,
              wallSeconds: round(wallSeconds, 1),
              dataset: prepared.hash,
              split: {
                train: prepared.split.train,
                val: prepared.split.val,
                groups: prepared.split.groups,
                nearDuplicatePairs: prepared.split.nearDuplicatePairs,
                crossClassPairs: prepared.split.crossClassPairs,
              },
              hparams,
              ...(test === undefined ? {} : { test }),
            }),
          );
        }
        result.model.dispose();
      } finally {
        bar.stop();
      }
    });
}

/** One line on how the data was split, e.g. after the decode progress bar. */
function formatSplit(split: SplitSummary): string {
  const how =
    split.nearDuplicateThreshold === null
      ? 'byte-identical copies grouped'
      : `near-duplicates within ${split.nearDuplicateThreshold} bits grouped`;
  return (
    `split: ${split.train} train / ${split.val} val${split.test > 0 ? ` / ${split.test} test` : ''} ` +
    `(${how}: ${split.groups} groups of 2+, largest ${split.largestGroup}; ` +
    `${split.nearDuplicatePairs} near-duplicate pairs, ${split.crossClassPairs} across classes)`
  );
}
