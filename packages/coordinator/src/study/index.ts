export {
  parseStudyConfig,
  assertClassNames,
  classNameProblems,
  imageSizesOf,
  MAX_IMAGE_SIZES,
  SchedulerConfigSchema,
  HyperbandConfigSchema,
  AshaConfigSchema,
  RandomConfigSchema,
  DatasetConfigSchema,
  BudgetSchema,
  type StudyConfig,
  type ParseStudyConfigOptions,
  type SchedulerConfig,
  type HyperbandConfig,
  type AshaConfig,
  type RandomConfig,
  type Budget,
} from './config.js';
export {
  parseSearchSpace,
  SearchSpaceSampler,
  hashHyperparameters,
  toHyperparameters,
  sampleAssignment,
  enumerateSpace,
  discreteValues,
  ParamSpecSchema,
  TUNABLE_NAMES,
  MAX_COLLISIONS,
  type ParamSpec,
  type ParamValue,
  type SearchSpace,
  type Proposal,
} from './search-space.js';
export {
  scoreOf,
  metricValue,
  compareRankable,
  naturalDirection,
  recallClassOf,
  isMetricName,
  ObjectiveSchema,
  ConstraintSchema,
  MetricNameSchema,
  BASE_METRICS,
  type Objective,
  type Constraint,
  type MetricName,
  type MetricValues,
  type MetricSource,
  type ScoreResult,
  type Rankable,
  type Direction,
} from './objective.js';
export { StudyConfigError } from './problems.js';
export {
  SamplerConfigSchema,
  WarmStartSchema,
  type SamplerConfig,
  type TpeSamplerConfig,
  type WarmStart,
} from './sampler-config.js';
export { encodeSpace, assignmentOf, toCoordinate, fromUnit, valueOf, type Dim } from './space-encoding.js';
export { ParzenEstimator, type Coordinates } from './parzen.js';
export { mulberry32, mixSeed, trialSeed, type Prng } from './prng.js';
export {
  analyseStudy,
  StudyAnalysisSchema,
  type StudyAnalysis,
  type AnalysisInput,
  type AnalysisRung,
} from './analysis.js';
