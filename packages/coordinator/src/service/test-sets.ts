import type { ArtifactStore } from '@braintune/artifacts';
import { InvalidInputError, type TestSetRef } from '@braintune/protocol';
import { prepareDataset, scanImageFolder, type BundleManifest } from '@braintune/model-core/dataset';
import { mapTestClasses } from '@braintune/model-core/metrics';
import { resolveDataPath } from '../data-roots/data-path.js';
import type { StudyDefinition } from './study-definition.js';

/**
 * Prepares every `evaluation.testSets` entry as a bundle with exactly the options of the
 * training bundle `training` (its recorded options object, passed on whole, so new
 * preprocessing options apply to test sets without a change here). Class folders are
 * checked against the study's classes before anything is decoded.
 */
export async function prepareTestSets(
  store: ArtifactStore,
  testSets: StudyDefinition['testSets'],
  training: BundleManifest,
): Promise<TestSetRef[]> {
  const refs: TestSetRef[] = [];
  for (const [i, testSet] of testSets.entries()) {
    const where = `evaluation.testSets[${i}] ("${testSet.name}")`;
    try {
      // Confined to the data roots like dataset.path; messages name the set, never a host path.
      const { realPath } = await resolveDataPath(testSet.path, { field: `evaluation.testSets[${i}].path` });
      const scanned = await scanImageFolder(realPath);
      mapTestClasses(training.classes, scanned.classes, testSet.name);
      const prepared = await prepareDataset({ ...training.options, dataDir: realPath, store });
      refs.push({ name: testSet.name, hash: prepared.hash });
    } catch (err) {
      if (err instanceof InvalidInputError) throw new InvalidInputError(`${where}: ${err.message}`, err.hint);
      throw err;
    }
  }
  return refs;
}
