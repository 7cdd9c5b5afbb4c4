import type { ArtifactStore } from '@braintune/artifacts';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochMetrics, Evaluation, Hyperparameters, Logger, TrialOutcome } from '@braintune/protocol';
import type { DatasetBundle } from '../dataset/types.js';
import { buildModel } from '../models/build.js';
import { runEpoch, type EpochSetup } from './epoch.js';
import { evaluateModel } from './evaluate.js';
import { assertTrainInputs } from './inputs.js';
import { hasBatchNorm } from './precise-bn.js';
import { saveProgress, startingProgress, type TrainingProgress, type TrainingRun } from './progress.js';

export interface TrainOptions {
  bundle: DatasetBundle;
  hparams: Hyperparameters;
  /** Epochs already trained (a checkpoint for them must be in checkpointDir); default 0. */
  fromEpoch?: number;
  /** Train until this many epochs in total. */
  toEpoch: number;
  /** Where a snapshot is written after every epoch, and resumed from. */
  checkpointDir?: string;
  /** Seeds initial weights, shuffling, augmentation and dropout. */
  seed: number;
  onEpoch?: (metrics: EpochMetrics) => void | Promise<void>;
  /** Called after every optimisation step (progress bars). */
  onBatch?: (progress: { epoch: number; batch: number; batches: number }) => void;
  /** Polled before every epoch; true ends the run with outcome 'cancelled'. */
  shouldStop?: () => boolean;
  logger?: Logger;
  /** The artifact store a transfer base (`baseModelUrl`) is read from. */
  baseModels?: ArtifactStore;
}

export interface TrainResult {
  model: tfl.LayersModel;
  /** Metrics of the epochs trained by this call. */
  history: EpochMetrics[];
  /** Validation evaluation of the returned model; null when training diverged. */
  evaluation: Evaluation | null;
  outcome: TrialOutcome;
  /** Epochs trained in total (including those before fromEpoch). */
  epochsDone: number;
}

/** Per-class weights n / (k · n_c) over the training split (scikit-learn's "balanced"). */
export function balancedClassWeights(bundle: DatasetBundle): number[] {
  const k = bundle.classes.length;
  const counts = new Array<number>(k).fill(0);
  for (const i of bundle.split.train)
    counts[bundle.labels[i] as number] = (counts[bundle.labels[i] as number] as number) + 1;
  const n = bundle.split.train.length;
  return counts.map((c) => (c > 0 ? n / (k * c) : 0));
}

/**
 * Trains (or resumes) one model with a custom loop: seeded shuffling and augmentation,
 * seeded dropout, class weights, label smoothing, L2, learning-rate schedule, precise BN,
 * batched evaluation and an atomic checkpoint after every epoch. Resuming from epoch k and
 * training to n gives the same weights as training 0 → n in one call.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { bundle, hparams: hp, toEpoch, checkpointDir, seed } = options;
  const fromEpoch = options.fromEpoch ?? 0;
  assertTrainInputs(bundle, hp, fromEpoch, toEpoch);
  const model = await buildModel(hp, {
    imageSize: bundle.imageSize,
    numClasses: bundle.classes.length,
    seed,
    ...(options.baseModels ? { baseModels: options.baseModels } : {}),
  });
  const run: TrainingRun = { bundle, hp, seed, checkpointDir };
  try {
    const progress = await startingProgress(model, run, fromEpoch, options.logger);
    const trained = await trainEpochs(model, run, progress, options);
    let { evaluation } = trained;
    if (evaluation === null && trained.outcome !== 'diverged') {
      // Nothing trained in this call (resumed at toEpoch, or cancelled at once): evaluate as is.
      evaluation = evaluateModel(model, bundle, bundle.split.val);
    }
    return {
      model,
      history: trained.history,
      evaluation,
      outcome: trained.outcome,
      epochsDone: progress.epochsDone,
    };
  } catch (err) {
    // The caller only gets the model with a result: on a failed resume or save it is freed here.
    model.dispose();
    throw err;
  }
}

/** The epochs this call trained, and how the loop over them ended. */
interface EpochsTrained {
  history: EpochMetrics[];
  /** Validation evaluation after the last epoch trained; null when none was, or training diverged. */
  evaluation: Evaluation | null;
  outcome: TrialOutcome;
}

/**
 * Trains the epochs after `progress.epochsDone` up to `toEpoch`, polling for a stop request
 * before each; after each, writes the checkpoint and reports the metrics.
 */
async function trainEpochs(
  model: tfl.LayersModel,
  run: TrainingRun,
  progress: TrainingProgress,
  options: TrainOptions,
): Promise<EpochsTrained> {
  const setup = epochSetup(model, run, options);
  const history: EpochMetrics[] = [];
  let evaluation: Evaluation | null = null;
  for (let epoch = progress.epochsDone + 1; epoch <= options.toEpoch; epoch++) {
    if (options.shouldStop?.() === true) return { history, evaluation, outcome: 'cancelled' };
    const trained = runEpoch(setup, progress, epoch);
    if (trained === null) return { history, evaluation: null, outcome: 'diverged' };
    const { metrics } = trained;
    evaluation = trained.evaluation;
    history.push(metrics);
    progress.epochsDone = epoch;
    if (run.checkpointDir !== undefined)
      await saveProgress(run.checkpointDir, model, run, progress, history, evaluation);
    options.logger?.debug({ ...metrics, valRecall: undefined }, 'epoch done');
    await options.onEpoch?.(metrics);
  }
  return { history, evaluation, outcome: 'completed' };
}

function epochSetup(model: tfl.LayersModel, run: TrainingRun, options: TrainOptions): EpochSetup {
  const { bundle, hp } = run;
  const classWeights =
    hp.classWeighting === 'balanced'
      ? balancedClassWeights(bundle)
      : new Array<number>(bundle.classes.length).fill(1);
  return {
    model,
    optimizer: model.optimizer,
    variables: model.trainableWeights.map((w) => w.read() as tf.Variable),
    bundle,
    hp,
    classWeights,
    seed: run.seed,
    useBnRecalibration: hp.preciseBn && hasBatchNorm(model),
    onBatch: options.onBatch,
    log: options.logger,
  };
}
