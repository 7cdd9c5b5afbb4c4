/**
 * The one read model of the coordinator's tables: the REST API (and through it the CLI) and
 * the dashboard read studies, trials and workers here. Objective direction, constraints and
 * ranking come from study/objective.ts and its SQL twin ranking.ts.
 */
export type { Page } from './page.js';
export { trialRankOrder, trialRankSql } from './ranking.js';
export {
  studySummary,
  listStudies,
  publicState,
  type StudySummary,
  type BestTrial,
  type PublicStudyState,
} from './study-summary.js';
export { listTrials, type TrialRow } from './trial-rows.js';
export { listWorkers } from './workers.js';
export { studyOverview, listStudyOverviews, type StudyOverview } from './study-overview.js';
export { type LeaderboardRow, type CurveSeries } from './leaderboard.js';
export { studyBrackets, type BracketView, BRACKET_TRIALS_SHOWN } from './brackets.js';
export { studySnapshot, LEADERBOARD_PAGE, type StudySnapshot, type WorkerView } from './snapshot.js';
export { trialDetail, type TrialDetail } from './trial-detail.js';
export { varyingHyperparameters, flattenHyperparameters } from './varying-hyperparameters.js';
