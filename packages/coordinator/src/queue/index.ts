export { createRedis, deleteKeysWithPrefix } from './connection.js';
export {
  TrialQueue,
  rungPriority,
  type TrialJob,
  type TrialJobState,
  type TrialQueueOptions,
} from './trial-queue.js';
export { ResultsQueue } from './results-queue.js';
export { readWorkers, type LiveWorker } from './workers-registry.js';
