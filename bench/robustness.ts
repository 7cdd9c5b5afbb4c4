/**
 * `npm run bench:robustness`: how far validation accuracy on our own data predicts accuracy on
 * scans acquired elsewhere. Trains a preset (default: `best`) on (a) the byte-identical split and
 * (b) the near-duplicate-aware split of an ImageFolder, reports validation accuracy, macro-F1 and
 * per-class recall of each, then scores model (b) on (b)'s validation scans under deterministic
 * acquisition shifts (gamma, contrast, blur, crop, padding, JPEG quality), each applied to the
 * ORIGINAL file bytes and decoded with the checkpoint's recorded preprocessing by `predict`,
 * exactly as a scan from another scanner would be. Last stdout line: one JSON object.
 *
 * Options: --data DIR (default: the shared data set next to the repo; skipped with a JSON line
 * when absent) --image-size 64 --epochs 15 --preset best --hp JSON --seed 1 --skip-byte-split
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { openArtifactStore, type ArtifactStore } from '@braintune/artifacts';
import type { ClassificationReport, Hyperparameters, HyperparametersInput } from '@braintune/protocol';
import {
  DEFAULT_PRESET,
  PRESET_NAMES,
  initBackend,
  isPresetName,
  loadCheckpoint,
  predict,
  presetHyperparameters,
  train,
  type LoadedCheckpoint,
} from '../packages/model-core/src/index.js';
import {
  DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  ACQUISITION_SHIFTS,
  applyAcquisitionShift,
  loadBundle,
  prepareDataset,
  type BundleManifest,
  type PrepareOptionsInput,
} from '../packages/model-core/src/dataset/index.js';
import { classificationReportFromLabels } from '../packages/model-core/src/metrics/index.js';

interface CliOptions {
  data: string;
  imageSize: number;
  epochs: number;
  preset: string;
  hp?: string;
  seed: number;
  skipByteSplit?: boolean;
}

interface SplitSpec {
  options: Partial<PrepareOptionsInput>;
  /** Whether near-duplicates (not only byte-identical copies) are kept on one side. */
  nearDuplicateAware: boolean;
}

/** The near-duplicate-aware split at prepareDataset's default threshold (docs/dataset.md). */
function nearDuplicateSplitOptions(): SplitSpec {
  return { options: { nearDuplicateThreshold: DEFAULT_NEAR_DUPLICATE_THRESHOLD }, nearDuplicateAware: true };
}

const round = (v: number, digits = 4): number => Math.round(v * 10 ** digits) / 10 ** digits;

function intOption(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return n;
  };
}

function parseHp(json: string | undefined): HyperparametersInput {
  if (json === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new InvalidArgumentError(
      `--hp is not JSON (${(error as Error).message}); e.g. '{"learningRate":0.001}'`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidArgumentError(`--hp must be a JSON object, e.g. '{"augmentation":{"gamma":0.3}}'`);
  return value as HyperparametersInput;
}

interface Summary {
  accuracy: number;
  macroF1: number;
  recall: Record<string, number>;
  images: number;
}

function summarise(report: ClassificationReport): Summary {
  const recall = Object.fromEntries(Object.entries(report.perClass).map(([c, m]) => [c, round(m.recall)]));
  const images = Object.values(report.perClass).reduce((s, m) => s + m.support, 0);
  return { accuracy: round(report.accuracy), macroF1: round(report.macroAvg.f1), recall, images };
}

interface SplitRun {
  summary: Summary & { confusionMatrix: number[][] };
  manifest: BundleManifest;
  checkpointDir: string;
  split: { train: number; val: number; duplicateGroups: number };
}

/** Prepares the split's bundle, trains the hyperparameters on it and checkpoints the final model. */
async function trainOnSplit(
  name: string,
  spec: SplitSpec,
  ctx: { store: ArtifactStore; root: string; opts: CliOptions; hparams: Hyperparameters },
): Promise<SplitRun> {
  const { store, root, opts, hparams } = ctx;
  const prepared = await prepareDataset({
    store,
    dataDir: path.resolve(opts.data),
    imageSize: hparams.imageSize,
    // The trial's preprocessing is the bundle's: train() refuses a bundle made otherwise.
    ...hparams.preprocessing,
    ...spec.options,
  });
  const bundle = await loadBundle(store, prepared.hash);
  const checkpointDir = path.join(root, `checkpoint-${name}`);
  const result = await train({
    bundle,
    hparams,
    toEpoch: opts.epochs,
    seed: opts.seed,
    checkpointDir,
    onEpoch: (m) =>
      console.error(
        JSON.stringify({
          split: name,
          epoch: m.epoch,
          loss: round(m.loss),
          valAccuracy: round(m.valAccuracy),
          valMacroF1: round(m.valMacroF1),
          imagesPerSecond: Math.round(m.trainImagesPerSecond),
        }),
      ),
  });
  result.model.dispose();
  if (result.evaluation === null) throw new Error(`training on the ${name} split diverged`);
  return {
    summary: { ...summarise(result.evaluation.report), confusionMatrix: result.evaluation.confusionMatrix },
    manifest: prepared.manifest,
    checkpointDir,
    split: {
      train: bundle.split.train.length,
      val: bundle.split.val.length,
      duplicateGroups: prepared.manifest.duplicateGroups.length,
    },
  };
}

/** Scores the checkpoint on files (original bytes, optionally shifted) through `predict`. */
async function scoreFiles(checkpoint: LoadedCheckpoint, files: Buffer[], labels: number[]): Promise<Summary> {
  const predictions = await predict(checkpoint, files);
  const classes = checkpoint.state.classes;
  const predicted = predictions.map((p) => classes.indexOf(p.predicted));
  return summarise(classificationReportFromLabels(labels, predicted, classes));
}

/** Accuracy and macro-F1 of the checkpoint on the validation scans, unshifted and under every shift. */
async function evaluateUnderShifts(run: SplitRun, dataDir: string): Promise<Record<string, Summary>> {
  const { manifest } = run;
  const byIndex = new Map(manifest.files.map((f) => [f.index, f]));
  const originals: Buffer[] = [];
  const labels: number[] = [];
  for (const index of manifest.split.val) {
    const file = byIndex.get(index);
    if (file === undefined) throw new Error(`bundle manifest has no file for validation index ${index}`);
    originals.push(await readFile(path.join(dataDir, file.path)));
    labels.push(file.label);
  }
  const checkpoint = await loadCheckpoint(run.checkpointDir);
  try {
    // "none" goes through the same predict path: it must equal the training run's validation accuracy.
    const results: Record<string, Summary> = { none: await scoreFiles(checkpoint, originals, labels) };
    for (const { name, shift } of ACQUISITION_SHIFTS) {
      const started = performance.now();
      const shifted: Buffer[] = [];
      for (const bytes of originals) shifted.push(await applyAcquisitionShift(bytes, shift));
      results[name] = await scoreFiles(checkpoint, shifted, labels);
      const seconds = round((performance.now() - started) / 1000, 1);
      console.error(JSON.stringify({ shift: name, ...results[name], seconds }));
    }
    return results;
  } finally {
    checkpoint.model.dispose();
  }
}

function worstOf(shifts: Record<string, Summary>): { name: string; accuracy: number; macroF1: number } {
  const entries = Object.entries(shifts).filter(([name]) => name !== 'none');
  const [name, worst] = entries.reduce((a, b) => (b[1].accuracy < a[1].accuracy ? b : a));
  return { name, accuracy: worst.accuracy, macroF1: worst.macroF1 };
}

async function main(opts: CliOptions): Promise<void> {
  if (!existsSync(opts.data)) {
    console.error(`bench:robustness skipped: data set not found at ${opts.data}; pass --data DIR`);
    console.log(JSON.stringify({ bench: 'robustness', skipped: true, reason: `not found: ${opts.data}` }));
    return;
  }
  if (!isPresetName(opts.preset))
    throw new InvalidArgumentError(`unknown preset "${opts.preset}"; use one of ${PRESET_NAMES.join(', ')}`);
  const overrides = parseHp(opts.hp);
  const hparams = presetHyperparameters(opts.preset, {
    scheduleEpochs: opts.epochs,
    ...overrides,
    imageSize: overrides.imageSize ?? opts.imageSize,
  });
  process.env.LOG_LEVEL ??= 'warn';
  const backend = await initBackend();
  const started = performance.now();
  const root = await mkdtemp(path.join(os.tmpdir(), 'braintune-bench-robustness-'));
  const ctx = { store: openArtifactStore(path.join(root, 'artifacts')), root, opts, hparams };
  try {
    const byte = opts.skipByteSplit
      ? null
      : await trainOnSplit(
          'byte',
          { options: { nearDuplicateThreshold: null }, nearDuplicateAware: false },
          ctx,
        );
    const nearSpec = nearDuplicateSplitOptions();
    const near = await trainOnSplit('near', nearSpec, ctx);
    const shifts = await evaluateUnderShifts(near, path.resolve(opts.data));
    console.log(
      JSON.stringify({
        bench: 'robustness',
        backend: backend.name,
        preset: opts.preset,
        overrides,
        imageSize: hparams.imageSize,
        epochs: opts.epochs,
        seed: opts.seed,
        byteSplit: byte === null ? null : { ...byte.summary, split: byte.split },
        nearDuplicateSplit: {
          ...near.summary,
          split: near.split,
          nearDuplicateAware: nearSpec.nearDuplicateAware,
        },
        shifts,
        worstShift: worstOf(shifts),
        wallSeconds: round((performance.now() - started) / 1000, 1),
      }),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const program = new Command('bench:robustness')
  .description('validation accuracy on two splits and under acquisition shifts')
  .option('--data <dir>', 'ImageFolder data set', '../shared/datasets/brain-tumor-mri')
  .option('--image-size <px>', 'input side length', intOption('--image-size', 16), 64)
  .option('--epochs <n>', 'epochs per training', intOption('--epochs', 1), 15)
  .option('--preset <name>', `hyperparameter preset (${PRESET_NAMES.join(', ')})`, DEFAULT_PRESET)
  .option('--hp <json>', 'hyperparameter overrides as one JSON object')
  .option('--seed <n>', 'training seed', intOption('--seed', 0), 1)
  .option('--skip-byte-split', 'train only on the near-duplicate split');
program.parse();
await main(program.opts<CliOptions>());
