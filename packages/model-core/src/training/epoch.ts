import type { EpochMetrics, Evaluation, Logger } from '@braintune/protocol';
import { augmentBatch, shiftsIntensities } from '../augment/augment.js';
import { chunks } from './batches.js';
import { evaluateModel } from './evaluate.js';
import { PRECISE_BN_SAMPLES, recalibrateBatchNorm } from './precise-bn.js';
import type { TrainingProgress } from './progress.js';
import { deriveSeed, Rng } from './rng.js';
import { trainStep, type StepSetup } from './step.js';

/** Offset of the precise-BN augmentation stream's seed from the epoch's (disjoint from other streams). */
const PRECISE_BN_SEED_OFFSET = 1_000_003;

/** What every epoch of a training call reads; fixed for the whole call. */
export interface EpochSetup extends StepSetup {
  seed: number;
  /** Re-estimate the batch-norm statistics after every epoch (precise BN, and the model has batch norm). */
  useBnRecalibration: boolean;
  onBatch: ((progress: { epoch: number; batch: number; batches: number }) => void) | undefined;
  log: Logger | undefined;
}

/** A trained and validated epoch. */
export interface EpochOutcome {
  metrics: EpochMetrics;
  evaluation: Evaluation;
}

/** Sums over the steps of one epoch's training pass. */
interface EpochTraining {
  steps: number;
  lossSum: number;
  correct: number;
  seen: number;
  /** A step's loss was NaN or infinite; the pass stopped after that step. */
  diverged: boolean;
}

/**
 * Trains epoch `epoch`, re-estimates the batch-norm statistics when asked, and validates.
 * Advances `progress.rng` and `progress.step`. Null when training diverged (logged): the
 * training or the validation loss became NaN or infinite.
 */
export function runEpoch(setup: EpochSetup, progress: TrainingProgress, epoch: number): EpochOutcome | null {
  const started = performance.now();
  const training = trainingPass(setup, progress.rng, epoch);
  progress.step += training.steps;
  if (training.diverged) {
    setup.log?.warn({ epoch }, 'loss is NaN or infinite: training diverged');
    return null;
  }
  const trainSeconds = (performance.now() - started) / 1000;
  if (setup.useBnRecalibration) recalibrateBatchNormAfter(setup, epoch);
  const evaluation = evaluateModel(setup.model, setup.bundle, setup.bundle.split.val);
  if (!Number.isFinite(evaluation.loss)) {
    // Weights overflowed in the last steps: the training loss was still finite, the model is not.
    setup.log?.warn({ epoch }, 'validation loss is NaN or infinite: training diverged');
    return null;
  }
  const report = evaluation.report;
  const metrics: EpochMetrics = {
    epoch,
    loss: training.lossSum / Math.max(1, training.seen),
    accuracy: training.correct / Math.max(1, training.seen),
    valLoss: evaluation.loss,
    valAccuracy: report.accuracy,
    valMacroF1: report.macroAvg.f1,
    valRecall: Object.fromEntries(setup.bundle.classes.map((c) => [c, report.perClass[c]?.recall ?? 0])),
    trainImagesPerSecond: training.seen / trainSeconds,
    durationMs: performance.now() - started,
  };
  return { metrics, evaluation };
}

/** One pass over the training split, in batches shuffled by `rng`, until the end or divergence. */
function trainingPass(setup: EpochSetup, rng: Rng, epoch: number): EpochTraining {
  const batches = shuffledBatches(rng, setup.bundle.split.train, setup.hp.batchSize);
  const sums: EpochTraining = { steps: 0, lossSum: 0, correct: 0, seen: 0, diverged: false };
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b] as number[];
    const step = trainStep(setup, batch, rng, epoch - 1 + b / batches.length);
    sums.steps += 1;
    sums.correct += step.correct;
    if (!Number.isFinite(step.loss)) {
      sums.diverged = true;
      break;
    }
    sums.lossSum += step.loss * batch.length;
    sums.seen += batch.length;
    setup.onBatch?.({ epoch, batch: b + 1, batches: batches.length });
  }
  return sums;
}

function shuffledBatches(rng: Rng, indices: readonly number[], batchSize: number): number[][] {
  const batches = chunks(rng.shuffled(indices), batchSize);
  // A final batch of one image gives batch norm a zero variance; Keras-style loops drop it.
  if (batches.length > 1 && batches[batches.length - 1]?.length === 1) return batches.slice(0, -1);
  return batches;
}

/** Precise BN after `epoch`, on a sample of the training split drawn from the epoch's own seed. */
function recalibrateBatchNormAfter(setup: EpochSetup, epoch: number): void {
  const { model, bundle, hp, seed } = setup;
  const sample = new Rng(deriveSeed(seed, epoch)).shuffled(bundle.split.train).slice(0, PRECISE_BN_SAMPLES);
  // With intensity-shift augmentation the network trains on batch statistics of augmented
  // images; statistics of clean images then misnormalise every layer (probe: val accuracy
  // 0.59 against 0.75 with curve p=0.5). Such runs re-estimate on augmented batches, drawn
  // from an RNG of their own so the training stream (and resume equivalence) is untouched.
  const bnRng = new Rng(deriveSeed(seed, epoch + PRECISE_BN_SEED_OFFSET));
  recalibrateBatchNorm(
    model,
    bundle,
    sample,
    shiftsIntensities(hp.augmentation) ? (x) => augmentBatch(x, hp.augmentation, bnRng) : undefined,
  );
}
