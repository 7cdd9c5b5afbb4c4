import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Hyperparameters } from '@braintune/protocol';
import { augmentBatch } from '../augment/augment.js';
import type { DatasetBundle } from '../dataset/types.js';
import { imagesTensor } from './batches.js';
import { learningRateAt, setLearningRate } from './optimizer.js';
import type { Rng } from './rng.js';

/** What every optimisation step of a training call reads; fixed for the whole call. */
export interface StepSetup {
  model: tfl.LayersModel;
  optimizer: tf.Optimizer;
  /** The variables of the trainable weights: the only ones the optimizer updates. */
  variables: tf.Variable[];
  bundle: DatasetBundle;
  hp: Hyperparameters;
  /** Loss weight of each class index. */
  classWeights: number[];
}

/** What one step measured on its batch. */
export interface StepResult {
  /** Mean weighted loss plus the regularisation penalty; NaN or infinite when training diverged. */
  loss: number;
  /** Images of the batch the model classified correctly (in training mode, before the update). */
  correct: number;
}

/** A batch's label-smoothed one-hot rows, per-image loss weights and integer labels. */
type BatchTargets = [targets: tf.Tensor, imageWeights: tf.Tensor1D, labelIds: tf.Tensor1D];

/**
 * One optimisation step on `batch` (training-split indices) at the fractional epoch
 * `epochPosition`: schedules the learning rate, augments with draws from `rng`, minimises
 * the loss, and frees every tensor it made.
 */
export function trainStep(setup: StepSetup, batch: number[], rng: Rng, epochPosition: number): StepResult {
  const { bundle, hp } = setup;
  setLearningRate(setup.optimizer, learningRateAt(hp, epochPosition));
  const raw = imagesTensor(bundle, batch);
  const images = augmentBatch(raw, hp.augmentation, rng);
  raw.dispose();
  const labels = batch.map((i) => bundle.labels[i] as number);
  const targets = batchTargets(setup, labels);
  try {
    const { cost, correctT } = minimizeLoss(setup, images, targets, batch.length);
    const loss = cost === null ? NaN : (cost.dataSync()[0] as number);
    const correct = correctT === undefined ? 0 : (correctT.dataSync()[0] as number);
    tf.dispose([cost, correctT].filter((t): t is tf.Scalar => t != null));
    return { loss, correct };
  } finally {
    // Also when the step throws (a failing kernel): a worker trains many rungs in one process.
    tf.dispose([images, ...targets]);
  }
}

function batchTargets(setup: StepSetup, labels: number[]): BatchTargets {
  const k = setup.bundle.classes.length;
  const { labelSmoothing } = setup.hp;
  return tf.tidy((): BatchTargets => {
    const oneHot = tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), k), 'float32');
    const smoothed =
      labelSmoothing > 0 ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / k) : oneHot;
    return [
      smoothed,
      tf.tensor1d(labels.map((l) => setup.classWeights[l] as number)),
      tf.tensor1d(labels, 'int32'),
    ];
  });
}

/**
 * Minimises the class-weighted cross-entropy plus the L2 penalty on `images` (one step of the
 * optimizer). Returns the loss and, kept out of the step's scope, the count of correct predictions.
 */
function minimizeLoss(
  setup: StepSetup,
  images: tf.Tensor,
  [targets, imageWeights, labelIds]: BatchTargets,
  batchSize: number,
): { cost: tf.Scalar | null; correctT: tf.Scalar | undefined } {
  const { model } = setup;
  let correctT: tf.Scalar | undefined;
  const cost = setup.optimizer.minimize(
    () => {
      const probs = model.apply(images, { training: true }) as tf.Tensor2D;
      // log(p·(1−2ε) + ε) rather than a clip: bounded like Keras's clip, but NaN stays NaN (divergence is detected).
      const ce = tf.neg(tf.sum(tf.mul(targets, tf.log(tf.add(tf.mul(probs, 1 - 2e-7), 1e-7))), -1));
      let loss = tf.div(tf.sum(tf.mul(ce, imageWeights)), batchSize) as tf.Scalar;
      const reg = regularizationLoss(model);
      if (reg !== null) loss = tf.add(loss, reg) as tf.Scalar;
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), labelIds), 'float32'))) as tf.Scalar;
      return loss;
    },
    true,
    setup.variables,
  );
  return { cost, correctT };
}

/** Sum of the layers' regularisation penalties (L2 on kernels), trainable layers only. */
function regularizationLoss(model: tfl.LayersModel): tf.Scalar | null {
  const penalties: tf.Scalar[] = [];
  const visit = (layers: tfl.layers.Layer[]): void => {
    for (const layer of layers) {
      if (!layer.trainable) continue;
      if (layer instanceof tfl.LayersModel) visit(layer.layers);
      else penalties.push(...layer.calculateLosses());
    }
  };
  visit(model.layers);
  return penalties.length === 0 ? null : (tf.addN(penalties) as tf.Scalar);
}
