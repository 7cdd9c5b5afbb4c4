import type { EpochMetrics, Evaluation, PreprocessingHyperparameters } from '@braintune/protocol';
import type { Observation } from '../scheduling/sampler.js';
import type { Scheduler } from '../scheduling/types.js';

/**
 * What the coordinator needs from a study config. The config module (../study) parses
 * and validates; this is the narrow view the distributed machinery works with.
 */
export interface StudyDefinition {
  name: string;
  /** The validated config with defaults applied (stored for display). */
  config: Record<string, unknown>;
  /** nearDuplicateThreshold: null = byte-identical groups only, undefined = model-core's default. */
  dataset: { path: string; valFraction: number; seed: number; nearDuplicateThreshold?: number | null };
  /** External test sets (`evaluation.testSets`), paths resolved like `dataset.path`. */
  testSets: { name: string; path: string }[];
  /** Every (imageSize, preprocessing) trials may use: one dataset bundle is prepared per entry. */
  bundles: { imageSize: number; preprocessing: PreprocessingHyperparameters }[];
  seed: number;
  /** Throws InvalidInputError when the objective or a constraint names a class the data set lacks. */
  checkClasses(classes: readonly string[]): void;
  /** The objective of a finished rung oriented so that larger is better, and the constraint verdict. */
  score(
    evaluation: Evaluation | null,
    lastEpoch: EpochMetrics | undefined,
  ): { score: number | null; meetsConstraints: boolean };
  /** A fresh scheduler; it must be a deterministic function of (config, warm start, state). */
  createScheduler(warmStart?: readonly Observation[]): Scheduler;
  /** Distinct hyperparameter sets the search space holds; null when unbounded (a continuous parameter). */
  distinctConfigurations?(): number | null;
}

export interface StudyFactory {
  /** Parses a user's config (YAML/JSON text or an already parsed object); throws InvalidInputError naming the field. */
  parse(input: string | object): StudyDefinition;
}
