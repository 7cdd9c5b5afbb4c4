export { createDashboardRouter, type DashboardDeps, type DashboardRouter } from './router.js';
export { StudyEventHub, EVENTS_CHANNEL } from './events.js';
export {
  listStudies,
  studySnapshot,
  trialDetail,
  type StudySnapshot,
  type StudySummary,
  type LeaderboardRow,
  type TrialDetail,
} from './read-model.js';
export { RegistryPredictor, type RegistryPrediction } from './predictor.js';
export { MAX_UPLOAD_BYTES } from './uploads.js';
export { requireApiToken, requireApiTokenForMutations } from '@braintune/coordinator';
export { startDashboardServer, type DashboardServer } from './server.js';
