export { createDashboardRouter, type DashboardDeps, type DashboardRouter } from './router.js';
export { StudyEventHub, EVENTS_CHANNEL } from './events.js';
export { trialPage, type TrialPage } from './trial-page.js';
export { snapshotDelta, type SnapshotDelta } from './live-delta.js';
export { RegistryPredictor, type RegistryPrediction } from './predictor.js';
export { MAX_UPLOAD_BYTES } from './uploads.js';
export { requireApiToken, requireApiTokenForMutations } from '@braintune/coordinator';
export { startDashboardServer, type DashboardServer } from './server.js';
