export { createRedis, deleteKeysWithPrefix } from './connection.js';
export {
  TrialQueue,
  rungPriority,
  type TrialJob,
  type TrialJobState,
  type TrialQueueOptions,
} from './trial-queue.js';
export { ResultsStreamReader, type ResultsEntry } from './results-stream.js';
export { readWorkers, type LiveWorker } from './workers-registry.js';
