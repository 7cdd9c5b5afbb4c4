export * from './hyperparameters.js';
export * from './evaluation.js';
export * from './jobs.js';
export * from './events.js';
export * from './errors.js';
export * from './env.js';
export * from './logging.js';
export * from './secrets.js';
