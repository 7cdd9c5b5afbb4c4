export { inspectStudy, type OpenRung, type ReconcileReport } from './reconcile.js';
