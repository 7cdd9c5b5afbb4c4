import * as tf from '@tensorflow/tfjs-core';
import { InvalidInputError } from '@braintune/protocol';
import { loadCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { preprocessImage } from '../dataset/preprocess.js';
import { pixelsToTensor } from '../training/batches.js';
import { EVAL_BATCH_SIZE, argmaxRows } from '../training/evaluate.js';

export type ImageInput = Buffer | string;

export interface Prediction {
  /** Class names, in the order of `probabilities`. */
  classes: string[];
  probabilities: number[];
  /** The most probable class. */
  predicted: string;
}

/**
 * Classifies scans with a checkpoint (a directory or one loaded with loadCheckpoint),
 * decoding each file with exactly the preprocessing recorded when its bundle was built.
 */
export async function predict(checkpoint: string | LoadedCheckpoint, input: ImageInput): Promise<Prediction>;
export async function predict(
  checkpoint: string | LoadedCheckpoint,
  input: readonly ImageInput[],
): Promise<Prediction[]>;
export async function predict(
  checkpoint: string | LoadedCheckpoint,
  input: ImageInput | readonly ImageInput[],
): Promise<Prediction | Prediction[]> {
  const loaded = typeof checkpoint === 'string' ? await loadCheckpoint(checkpoint) : checkpoint;
  const inputs = Array.isArray(input) ? (input as readonly ImageInput[]) : [input as ImageInput];
  const { state, model } = loaded;
  const pixels: Uint8Array[] = [];
  // preprocessImage reports unreadable files and non-images as InvalidInputError.
  for (const item of inputs) pixels.push(await preprocessImage(item, state.preprocessing));
  if (pixels.length === 0) throw new InvalidInputError('no image to classify', 'pass at least one image');
  const k = state.classes.length;
  const probabilities = new Float32Array(pixels.length * k);
  for (let start = 0; start < pixels.length; start += EVAL_BATCH_SIZE) {
    const batch = pixels.slice(start, start + EVAL_BATCH_SIZE);
    const out = tf.tidy(
      () => model.apply(pixelsToTensor(batch, state.imageSize), { training: false }) as tf.Tensor,
    );
    probabilities.set(out.dataSync(), start * k);
    out.dispose();
  }
  if (typeof checkpoint === 'string') model.dispose();
  const best = argmaxRows(probabilities, k);
  const results = pixels.map((_, i) => ({
    classes: state.classes,
    probabilities: Array.from(probabilities.subarray(i * k, (i + 1) * k)),
    predicted: state.classes[best[i] as number] as string,
  }));
  return Array.isArray(input) ? results : (results[0] as Prediction);
}
