export { startWorker, type WorkerOptions, type RunningWorker } from './worker.js';
export { ModelCoreTrainer, type RungTrainer, type RungInput, type RungOutput } from './trainer.js';
export { ModelCorePreparer, type DatasetPreparer } from './preparer.js';
