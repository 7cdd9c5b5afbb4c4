import path from 'node:path';

/**
 * The one place a study config's data directories — `dataset.path` and every
 * `evaluation.testSets[].path` — become the paths the coordinator reads, so any rule about
 * where data may live applies to both alike.
 */
export function resolveStudyDataPath(dataPath: string): string {
  return path.resolve(dataPath);
}
