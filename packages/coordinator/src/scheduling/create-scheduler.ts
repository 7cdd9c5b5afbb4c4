import type { StudyConfig } from '../study/config.js';
import { AshaScheduler } from './asha.js';
import { HyperbandScheduler } from './hyperband.js';
import { RandomScheduler } from './random.js';
import { createSampler, type Observation } from './sampler.js';
import type { Scheduler } from './types.js';

/**
 * The scheduler a study config asks for, with the sampler it asks for; deterministic in
 * (config, warm-start observations, state).
 */
export function createScheduler(
  config: Pick<StudyConfig, 'scheduler' | 'searchSpace' | 'seed' | 'budget'> &
    Partial<Pick<StudyConfig, 'sampler'>>,
  warmStart: readonly Observation[] = [],
): Scheduler {
  const sampler = createSampler({
    config: config.sampler ?? { type: 'random' },
    space: config.searchSpace,
    seed: config.seed,
    warmStart,
  });
  const common = { space: config.searchSpace, seed: config.seed, budget: config.budget, sampler };
  switch (config.scheduler.type) {
    case 'hyperband':
      return new HyperbandScheduler({ ...common, config: config.scheduler });
    case 'asha':
      return new AshaScheduler({ ...common, config: config.scheduler });
    case 'random':
      return new RandomScheduler({ ...common, config: config.scheduler });
  }
}
