export { Coordinator, EVENTS_CHANNEL, type CoordinatorOptions, type AppliedEvent } from './coordinator.js';
export { submitStudy, cancelStudy, newStudyId, ConflictError, type SubmittedStudy } from './submit.js';
export { describeEndReason, planWarning } from './end-reason.js';
export { defaultStudyFactory } from './study-factory.js';
export { trialIdOf, checkpointKeyOf, datasetFor } from './decisions.js';
export type { StudyDefinition, StudyFactory } from './study-definition.js';
export { proposalInputs } from './sampler-history.js';
export { loadWarmStart, warmStartProblems, warmStartIds, differingParameters } from './warm-start.js';
export { studyAnalysis } from './analysis-query.js';
