export { Coordinator, EVENTS_CHANNEL, type CoordinatorOptions, type AppliedEvent } from './coordinator.js';
export { CoordinatorOptionsSchema } from './options.js';
export type { CoordinatorStats } from './events.js';
export { submitStudy, cancelStudy, newStudyId, ConflictError, type SubmittedStudy } from './submit.js';
export { describeEndReason, planWarning } from './end-reason.js';
export {
  studySummary,
  listStudies,
  listTrials,
  listWorkers,
  publicState,
  type StudySummary,
  type TrialRow,
  type BestTrial,
  type PublicStudyState,
} from './queries.js';
export { defaultStudyFactory } from './study-factory.js';
export { trialIdOf, checkpointKeyOf, datasetFor } from './decisions.js';
export type { StudyDefinition, StudyFactory } from './study-definition.js';
export { proposalInputs } from './sampler-history.js';
export { loadWarmStart, warmStartProblems, warmStartIds, differingParameters } from './warm-start.js';
export { studyAnalysis } from './analysis-query.js';
