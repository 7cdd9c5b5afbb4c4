export {
  parseStudyConfig,
  assertClassNames,
  classNameProblems,
  MAX_TRIALS,
  SchedulerConfigSchema,
  HyperbandConfigSchema,
  AshaConfigSchema,
  RandomConfigSchema,
  DatasetConfigSchema,
  BudgetSchema,
  EvaluationConfigSchema,
  TestSetConfigSchema,
  type StudyConfig,
  type ParseStudyConfigOptions,
  type SchedulerConfig,
  type HyperbandConfig,
  type AshaConfig,
  type RandomConfig,
  type Budget,
} from './config.js';
export { imageSizesOf, bundleVariantsOf, MAX_IMAGE_SIZES, type BundleVariant } from './bundles.js';
export {
  parseSearchSpace,
  discreteValues,
  ParamSpecSchema,
  TUNABLE_NAMES,
  type ParamSpec,
  type ParamValue,
  type SearchSpace,
} from './search-space.js';
export {
  SearchSpaceSampler,
  hashHyperparameters,
  toHyperparameters,
  sampleAssignment,
  enumerateSpace,
  countConfigurations,
  MAX_COLLISIONS,
  type Proposal,
} from './space-sampling.js';
export {
  scoreOf,
  metricValue,
  constraintViolations,
  orientedScore,
  naturalValue,
  storedObjective,
  storedConstraints,
  compareTrials,
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
  type RankedTrial,
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
export { resolveStudyDataPath } from './data-path.js';
export {
  analyseStudy,
  StudyAnalysisSchema,
  type StudyAnalysis,
  type AnalysisInput,
  type AnalysisRung,
} from './analysis.js';
