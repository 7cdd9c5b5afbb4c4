import { canonicalPreprocessing, InvalidInputError, type Hyperparameters } from '@braintune/protocol';
import type { DatasetBundle } from '../dataset/types.js';

/**
 * Rejects a training call that cannot run: a bundle prepared for other hyperparameters, an
 * empty training or validation split, or a resume point after the epoch to train to.
 */
export function assertTrainInputs(
  bundle: DatasetBundle,
  hp: Hyperparameters,
  fromEpoch: number,
  toEpoch: number,
): void {
  assertBundleFits(bundle, hp);
  if (bundle.split.train.length === 0 || bundle.split.val.length === 0) {
    throw new InvalidInputError(
      'the data set needs a non-empty training and validation split',
      'add images or change valFraction',
    );
  }
  if (fromEpoch > toEpoch)
    throw new InvalidInputError(
      `fromEpoch ${fromEpoch} is after toEpoch ${toEpoch}`,
      'train to an epoch at or after the checkpoint the run resumes from',
    );
}

/** The bundle must have been prepared at the image size and with the preprocessing of `hp`. */
function assertBundleFits(bundle: DatasetBundle, hp: Hyperparameters): void {
  if (bundle.imageSize !== hp.imageSize) {
    throw new InvalidInputError(
      `the data set bundle is ${bundle.imageSize} px but imageSize is ${hp.imageSize}`,
      'prepare a bundle at the image size of the hyperparameters',
    );
  }
  const { headCrop, cropMargin, intensity } = bundle.preprocessing;
  const bundlePreprocessing = JSON.stringify(canonicalPreprocessing({ headCrop, cropMargin, intensity }));
  const wantedPreprocessing = JSON.stringify(canonicalPreprocessing(hp.preprocessing));
  if (bundlePreprocessing !== wantedPreprocessing) {
    throw new InvalidInputError(
      `the data set bundle's preprocessing is ${bundlePreprocessing} but the hyperparameters ask for ${wantedPreprocessing}`,
      'prepare a bundle with the preprocessing of the hyperparameters (headCrop, cropMargin, intensity)',
    );
  }
}
