import type { PreprocessingInput } from './preprocess.js';

/**
 * A decoded, preprocessed data set held in memory: what training, evaluation and the
 * worker's cache pass around. Produced by `loadBundle` (dataset/bundle.ts); training code
 * must not care whether it came from disk or from a test that built it in memory.
 */
export interface DatasetBundle {
  /** sha256 identifying the bundle (content address in the artifact store). */
  hash: string;
  /** Class names, sorted; label i means classes[i]. */
  classes: string[];
  /** Side length: every image is imageSize × imageSize, one channel (greyscale). */
  imageSize: number;
  /** All images, row-major [count, imageSize, imageSize], uint8 0–255. */
  images: Uint8Array;
  /** Label of every image, 0 … classes.length-1. */
  labels: Uint8Array;
  /** Indices into images/labels; disjoint; duplicate groups never straddle two splits. */
  split: { train: number[]; val: number[]; test: number[] };
  /** How pixels were produced from files; `predict` applies the same to a new scan. */
  preprocessing: PreprocessingInput;
}
