import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Evaluation } from '@braintune/protocol';
import type { DatasetBundle } from '../dataset/types.js';
import { classificationReport } from '../metrics/report.js';
import { confusionMatrix } from '../metrics/confusion.js';
import { chunks, imagesTensor } from './batches.js';

/** Predict batch size: large enough to amortise per-call overhead, small enough for 512 px. */
export const EVAL_BATCH_SIZE = 128;

/** Softmax outputs (row-major [indices.length, numClasses]) in inference mode, in batches. */
export function predictProbabilities(
  model: tfl.LayersModel,
  bundle: DatasetBundle,
  indices: readonly number[],
  batchSize = EVAL_BATCH_SIZE,
): Float32Array {
  const numClasses = bundle.classes.length;
  const out = new Float32Array(indices.length * numClasses);
  let offset = 0;
  for (const batch of chunks(indices, batchSize)) {
    const probs = tf.tidy(() => model.apply(imagesTensor(bundle, batch), { training: false }) as tf.Tensor);
    out.set(probs.dataSync(), offset);
    offset += batch.length * numClasses;
    probs.dispose();
  }
  return out;
}

/** Index of the largest of each row of a row-major matrix. */
export function argmaxRows(values: Float32Array, columns: number): number[] {
  const rows = values.length / columns;
  const out = new Array<number>(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < columns; c++)
      if ((values[r * columns + c] as number) > (values[r * columns + best] as number)) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Confusion matrix, scikit-learn report and mean cross-entropy of the model on `indices`
 * (no label smoothing, no class weights: the loss a user would compute on held-out data).
 */
export function evaluateModel(
  model: tfl.LayersModel,
  bundle: DatasetBundle,
  indices: readonly number[],
): Evaluation {
  const k = bundle.classes.length;
  const probs = predictProbabilities(model, bundle, indices);
  const yTrue = indices.map((i) => bundle.labels[i] as number);
  const yPred = argmaxRows(probs, k);
  let loss = 0;
  yTrue.forEach((t, r) => {
    loss -= Math.log(Math.min(1 - 1e-7, Math.max(1e-7, probs[r * k + t] as number)));
  });
  const matrix = confusionMatrix(yTrue, yPred, k);
  return {
    classes: bundle.classes,
    confusionMatrix: matrix,
    report: classificationReport(matrix, bundle.classes),
    loss: indices.length > 0 ? loss / indices.length : 0,
  };
}
