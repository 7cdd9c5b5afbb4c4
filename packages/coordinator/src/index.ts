export {};
export * from './registry/index.js';
export * from './db/index.js';
export * from './study/index.js';
export * from './scheduling/index.js';
export * from './queue/index.js';
export * from './service/index.js';
export * from './reconcile/index.js';
export * from './api/index.js';
