import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { PreprocessingSchema } from '../dataset/preprocess.js';
import { readTestFolder, type TestFolder } from './folder.js';
import { scoreTestBundle, type TestSetEvaluation } from './test-set.js';

export { mapTestClasses, scoreFromPredictions, scoreTestBundle, type TestSetEvaluation } from './test-set.js';
export { readTestFolder, type TestFolder } from './folder.js';

/**
 * `braintune evaluate --checkpoint` and `braintune train --test`: a checkpoint scored on an
 * ImageFolder decoded with the preprocessing recorded in the checkpoint.
 */
export async function evaluateCheckpointOnFolder(
  checkpoint: LoadedCheckpoint,
  dataDir: string,
): Promise<TestSetEvaluation & { skipped: TestFolder['skipped'] }> {
  const { state, model } = checkpoint;
  const folder = await readTestFolder(
    dataDir,
    state.classes,
    // Older checkpoints lack the head-crop / intensity fields: their defaults are the old pipeline.
    PreprocessingSchema.parse(state.preprocessing),
  );
  const evaluation = scoreTestBundle(model, state.classes, folder.bundle, dataDir);
  return { ...evaluation, skipped: folder.skipped };
}
