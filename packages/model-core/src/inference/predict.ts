import * as tf from '@tensorflow/tfjs-core';
import { InvalidInputError } from '@braintune/protocol';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { applyTemperature } from '../calibration/temperature.js';
import { preprocessImage, type DecodedScan } from '../dataset/preprocess.js';
import { pixelsToTensor } from '../training/batches.js';
import { EVAL_BATCH_SIZE, argmaxRows } from '../training/evaluate.js';
import { disposePredictor, isEnsemble, loadPredictor, type LoadedPredictor } from './ensemble.js';

/** A file path, its bytes, or the pixels of an upload decoded once (see decodeScan). */
export type ImageInput = Buffer | string | DecodedScan;

/** The decision of a prediction whose confidence is below the operating threshold. */
export const REFER = 'refer';

export interface Prediction {
  /** Class names, in the order of `probabilities`. */
  classes: string[];
  /** Calibrated probabilities (averaged over TTA passes and ensemble members). */
  probabilities: number[];
  /** The most probable class (also when the scan is referred). */
  predicted: string;
  /** The top probability. */
  confidence: number;
  /** The operating threshold: below it the scan is referred (0 = never). */
  threshold: number;
  refer: boolean;
  /** `predicted`, or "refer" (to a radiologist) when confidence < threshold. */
  decision: string;
  /** Temperature applied (1 = uncalibrated checkpoint); null for an ensemble (each member has its own). */
  temperature: number | null;
  tta: boolean;
}

export interface PredictOptions {
  /** Horizontal-flip test-time augmentation: mean of the plain and the mirrored pass. */
  tta?: boolean | undefined;
}

/** Softmax outputs for preprocessed images, optionally mirrored left–right. */
function forward(loaded: LoadedCheckpoint, pixels: readonly Uint8Array[], flip: boolean): Float32Array {
  const k = loaded.state.classes.length;
  const out = new Float32Array(pixels.length * k);
  for (let start = 0; start < pixels.length; start += EVAL_BATCH_SIZE) {
    const batch = pixels.slice(start, start + EVAL_BATCH_SIZE);
    const probs = tf.tidy(() => {
      const x = pixelsToTensor(batch, loaded.state.imageSize);
      return loaded.model.apply(flip ? tf.reverse(x, 2) : x, { training: false }) as tf.Tensor;
    });
    out.set(probs.dataSync(), start * k);
    probs.dispose();
  }
  return out;
}

/** Calibrated probabilities of one checkpoint, each scan decoded with its recorded preprocessing. */
async function checkpointProbabilities(
  loaded: LoadedCheckpoint,
  inputs: readonly ImageInput[],
  tta: boolean,
): Promise<Float32Array> {
  const { state } = loaded;
  const k = state.classes.length;
  const pixels: Uint8Array[] = [];
  // preprocessImage reports unreadable files and non-images as InvalidInputError.
  for (const item of inputs) pixels.push(await preprocessImage(item, state.preprocessing));
  const temperature = state.calibration?.temperature ?? 1;
  const plain = applyTemperature(forward(loaded, pixels, false), k, temperature);
  if (!tta) return plain;
  const mirrored = applyTemperature(forward(loaded, pixels, true), k, temperature);
  return plain.map((v, i) => (v + (mirrored[i] as number)) / 2);
}

/**
 * Classifies scans with a checkpoint or an ensemble (a directory, or one loaded with
 * loadPredictor/loadCheckpoint): calibrated probabilities, the top class, and the triage
 * decision at the operating threshold fitted on validation. An ensemble averages its
 * members' calibrated probabilities, each member decoding the scan with its own preprocessing.
 */
export async function predict(
  target: string | LoadedPredictor,
  input: ImageInput,
  options?: PredictOptions,
): Promise<Prediction>;
export async function predict(
  target: string | LoadedPredictor,
  input: readonly ImageInput[],
  options?: PredictOptions,
): Promise<Prediction[]>;
export async function predict(
  target: string | LoadedPredictor,
  input: ImageInput | readonly ImageInput[],
  options: PredictOptions = {},
): Promise<Prediction | Prediction[]> {
  const inputs = Array.isArray(input) ? (input as readonly ImageInput[]) : [input as ImageInput];
  if (inputs.length === 0) throw new InvalidInputError('no image to classify', 'pass at least one image');
  const loaded = typeof target === 'string' ? await loadPredictor(target) : target;
  const tta = options.tta === true;
  try {
    const members = isEnsemble(loaded) ? loaded.members : [loaded];
    const classes = isEnsemble(loaded) ? loaded.classes : loaded.state.classes;
    const threshold = isEnsemble(loaded)
      ? loaded.threshold
      : (loaded.state.calibration?.operatingPoint.threshold ?? 0);
    const k = classes.length;
    const sum = new Float32Array(inputs.length * k);
    for (const member of members) {
      const p = await checkpointProbabilities(member, inputs, tta);
      for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (p[i] as number) / members.length;
    }
    const best = argmaxRows(sum, k);
    const results = inputs.map((_, i): Prediction => {
      const probabilities = Array.from(sum.subarray(i * k, (i + 1) * k));
      const predicted = classes[best[i] as number] as string;
      const confidence = probabilities[best[i] as number] as number;
      const refer = confidence < threshold;
      return {
        classes,
        probabilities,
        predicted,
        confidence,
        threshold,
        refer,
        decision: refer ? REFER : predicted,
        temperature: isEnsemble(loaded) ? null : (loaded.state.calibration?.temperature ?? 1),
        tta,
      };
    });
    return Array.isArray(input) ? results : (results[0] as Prediction);
  } finally {
    if (typeof target === 'string') disposePredictor(loaded);
  }
}
