/**
 * The study the end-to-end tests and the soak bench run: a 2-block CNN on 16 px images, so a
 * rung takes a fraction of a second on one core and the scheduling is what gets exercised.
 * Free of vitest, so benchmarks can use it too.
 */
export function tinyStudyYaml(study: {
  name: string;
  dataDir: string;
  scheduler: string;
  seed?: number;
  extra?: string;
}): string {
  return `name: ${study.name}
dataset: {path: ${JSON.stringify(study.dataDir)}, imageSize: 16, valFraction: 0.25}
searchSpace:
  learningRate: {type: float, min: 0.001, max: 0.05, sampling: log}
  baseFilters: 4
  convBlocks: 2
  denseUnits: 8
  dense2Units: 0
  batchSize: 16
  convDropout: 0
scheduler: ${study.scheduler}
objective: {metric: val_macro_f1}
seed: ${study.seed ?? 7}
${study.extra ?? ''}`;
}
