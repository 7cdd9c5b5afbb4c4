import type * as tfl from '@tensorflow/tfjs-layers';
import { InvalidInputError } from '@braintune/protocol';
import type { DatasetBundle } from '../dataset/types.js';
import { mapTestClasses, scoreFromPredictions, type TestSetEvaluation } from '../metrics/test-score.js';
import { argmaxRows, predictProbabilities } from '../training/evaluate.js';

export { mapTestClasses, scoreFromPredictions, type TestSetEvaluation };

/**
 * Scores `model` (trained on `modelClasses`) on every image of `bundle`, whatever split the
 * bundle assigned it to: a test set is held out as a whole.
 */
export function scoreTestBundle(
  model: tfl.LayersModel,
  modelClasses: readonly string[],
  bundle: DatasetBundle,
  source = bundle.hash,
): TestSetEvaluation {
  const toModel = mapTestClasses(modelClasses, bundle.classes, source);
  const inputSize = model.inputs[0]?.shape[1];
  if (typeof inputSize === 'number' && inputSize !== bundle.imageSize)
    throw new InvalidInputError(
      `test set ${source} holds ${bundle.imageSize} px images, the model takes ${inputSize} px`,
      'prepare the test set with the preprocessing recorded with the model',
    );
  const indices = Array.from({ length: bundle.labels.length }, (_, i) => i);
  if (indices.length === 0)
    throw new InvalidInputError(
      `test set ${source} has no images`,
      'add JPEG/PNG scans to its class folders',
    );
  const probabilities = predictProbabilities(model, { ...bundle, classes: [...modelClasses] }, indices);
  const yPred = argmaxRows(probabilities, modelClasses.length);
  const yTrue = indices.map((i) => toModel[bundle.labels[i] as number] as number);
  return scoreFromPredictions(modelClasses, yTrue, yPred);
}
