import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  InvalidInputError,
  type EpochMetrics,
  type Evaluation,
  type Hyperparameters,
  type Logger,
} from '@braintune/protocol';
import {
  readCheckpointState,
  restoreCheckpoint,
  saveCheckpoint,
  CHECKPOINT_FORMAT,
  type CheckpointState,
} from '../checkpoint/checkpoint.js';
import type { DatasetBundle } from '../dataset/types.js';
import { setDropoutStep } from '../models/seeded-dropout.js';
import { PIXEL_SCALE } from './batches.js';
import { Rng } from './rng.js';

/**
 * How far a run has come: what a checkpoint holds besides the weights and optimizer state,
 * so that a resumed run continues exactly as an uninterrupted one would.
 */
export interface TrainingProgress {
  /** The training stream (shuffling, augmentation); every epoch advances it. */
  rng: Rng;
  /** Optimisation steps taken in total (dropout masks are a function of it). */
  step: number;
  /** Epochs trained in total. */
  epochsDone: number;
  /** Metrics of the epochs trained before this call; a checkpoint holds the whole history. */
  previousHistory: EpochMetrics[];
}

/** The run a checkpoint belongs to. */
export interface TrainingRun {
  bundle: DatasetBundle;
  hp: Hyperparameters;
  seed: number;
  checkpointDir: string | undefined;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Where this call starts: the progress of the checkpoint in `run.checkpointDir` when it is at
 * or after `fromEpoch` (its weights and optimizer state restored into `model`), else epoch 0.
 */
export async function startingProgress(
  model: tfl.LayersModel,
  run: TrainingRun,
  fromEpoch: number,
  log: Logger | undefined,
): Promise<TrainingProgress> {
  const { checkpointDir } = run;
  const existing = checkpointDir === undefined ? null : await readCheckpointState(checkpointDir);
  if (existing !== null && checkpointDir !== undefined && existing.epoch >= fromEpoch && existing.epoch > 0) {
    if (
      !sameJson(existing.hparams, run.hp) ||
      existing.seed !== run.seed ||
      !sameJson(existing.classes, run.bundle.classes)
    ) {
      throw new InvalidInputError(
        `the checkpoint in ${checkpointDir} was trained with other hyperparameters, seed or classes`,
        'use a new checkpoint directory for a new run',
      );
    }
    return resumeFromCheckpoint(model, checkpointDir, log);
  }
  if (fromEpoch > 0) {
    throw new InvalidInputError(
      `cannot resume at epoch ${fromEpoch}: no checkpoint for it in ${checkpointDir ?? '(no checkpointDir)'}`,
      'pass the checkpointDir the lower rung wrote',
    );
  }
  return { rng: new Rng(run.seed), step: 0, epochsDone: 0, previousHistory: [] };
}

async function resumeFromCheckpoint(
  model: tfl.LayersModel,
  checkpointDir: string,
  log: Logger | undefined,
): Promise<TrainingProgress> {
  const state = await restoreCheckpoint(checkpointDir, model);
  const progress: TrainingProgress = {
    rng: Rng.fromState(state.rngState),
    step: state.step,
    epochsDone: state.epoch,
    previousHistory: state.history,
  };
  setDropoutStep(model, progress.step);
  log?.info({ checkpointDir, epoch: state.epoch }, 'resumed from checkpoint');
  return progress;
}

/**
 * Writes the snapshot of the epoch just finished (`progress.epochsDone`): the model, its
 * optimizer state, the progress and the whole history including `history` of this call.
 */
export async function saveProgress(
  checkpointDir: string,
  model: tfl.LayersModel,
  run: TrainingRun,
  progress: TrainingProgress,
  history: readonly EpochMetrics[],
  evaluation: Evaluation,
): Promise<void> {
  const { bundle } = run;
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    epoch: progress.epochsDone,
    step: progress.step,
    rngState: progress.rng.getState(),
    seed: run.seed,
    hparams: run.hp,
    classes: bundle.classes,
    imageSize: bundle.imageSize,
    preprocessing: bundle.preprocessing,
    pixelScale: PIXEL_SCALE,
    bundleHash: bundle.hash,
    backend: tf.getBackend(),
    history: [...progress.previousHistory, ...history],
    evaluation,
    savedAt: new Date().toISOString(),
  };
  await saveCheckpoint(checkpointDir, model, state);
}
