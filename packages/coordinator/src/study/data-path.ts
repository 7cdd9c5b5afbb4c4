import path from 'node:path';

/**
 * The one place a study config's data directories — `dataset.path` and every
 * `evaluation.testSets[].path` — become the paths a prepare job carries to the worker that
 * reads them, so any rule about where data may live applies to both alike.
 */
export function resolveStudyDataPath(dataPath: string): string {
  return path.resolve(dataPath);
}
