import type * as tfl from '@tensorflow/tfjs-layers';
import type { Calibration } from '@braintune/protocol';
import { storeCalibration } from '../checkpoint/checkpoint.js';
import type { DatasetBundle } from '../dataset/types.js';
import { predictProbabilities } from '../training/evaluate.js';
import { expectedCalibrationError, topLabel } from './ece.js';
import { chooseOperatingPoint, type OperatingPointOptions } from './operating-point.js';
import { applyTemperature, fitTemperature, temperatureNll } from './temperature.js';

/** Temperature, ECE before/after and operating point from validation probabilities. */
export function calibrateProbabilities(
  probs: Float32Array,
  labels: readonly number[],
  k: number,
  options: OperatingPointOptions = {},
): Calibration {
  const temperature = fitTemperature(probs, labels, k);
  const scaled = applyTemperature(probs, k, temperature);
  const { confidence, correct } = topLabel(scaled, labels, k);
  return {
    temperature,
    eceBefore: expectedCalibrationError(probs, labels, k),
    eceAfter: expectedCalibrationError(scaled, labels, k),
    nllBefore: temperatureNll(probs, labels, k, 1),
    nllAfter: temperatureNll(probs, labels, k, temperature),
    images: labels.length,
    operatingPoint: chooseOperatingPoint(confidence, correct, options),
  };
}

/**
 * The calibration step after training (`braintune train` and every worker rung): fits it
 * on the bundle's validation split and, given a checkpoint directory, stores it with the
 * latest snapshot so predict, the registry and the dashboard apply it.
 */
export async function calibrate(
  model: tfl.LayersModel,
  bundle: DatasetBundle,
  options: OperatingPointOptions & { checkpointDir?: string | undefined } = {},
): Promise<Calibration> {
  const indices = bundle.split.val;
  const probs = predictProbabilities(model, bundle, indices);
  const labels = indices.map((i) => bundle.labels[i] as number);
  const calibration = calibrateProbabilities(probs, labels, bundle.classes.length, options);
  if (options.checkpointDir !== undefined) await storeCalibration(options.checkpointDir, calibration);
  return calibration;
}
