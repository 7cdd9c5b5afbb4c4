export * from './types.js';
export { rungRecord, queuedRung } from './rung-record.js';
export { createScheduler } from './create-scheduler.js';
export { ChangeJournal } from './change-journal.js';
export { HyperbandScheduler, type HyperbandSchedulerOptions } from './hyperband.js';
export { AshaScheduler, ashaRungEpochs, type AshaSchedulerOptions } from './asha.js';
export { RandomScheduler, type RandomSchedulerOptions } from './random.js';
export {
  hyperbandPlan,
  hyperbandBrackets,
  hyperbandNumBrackets,
  hyperbandNumRounds,
  hyperbandSize,
  hyperbandEpochs,
  type HyperbandPlan,
  type HyperbandBracket,
  type HyperbandRound,
} from './hyperband-plan.js';
export {
  simulateStudy,
  InMemoryStudy,
  SimulationInvariantError,
  defaultOutcome,
  type SimulationOptions,
  type SimulationResult,
  type SimulatedRungOutcome,
  type DecideCall,
} from './simulate.js';
export {
  createSampler,
  observationsOf,
  compareObservations,
  RandomSampler,
  type Sampler,
  type SamplerOptions,
  type Observation,
  type ProposalRequest,
} from './sampler.js';
export { TpeSampler, type TpeSamplerOptions } from './tpe.js';
