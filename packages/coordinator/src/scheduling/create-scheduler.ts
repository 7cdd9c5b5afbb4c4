import type { StudyConfig } from '../study/config.js';
import { AshaScheduler } from './asha.js';
import { HyperbandScheduler } from './hyperband.js';
import { RandomScheduler } from './random.js';
import type { Scheduler } from './types.js';

/** The scheduler a study config asks for; deterministic in (config, state). */
export function createScheduler(
  config: Pick<StudyConfig, 'scheduler' | 'searchSpace' | 'seed' | 'budget'>,
): Scheduler {
  const common = { space: config.searchSpace, seed: config.seed, budget: config.budget };
  switch (config.scheduler.type) {
    case 'hyperband':
      return new HyperbandScheduler({ ...common, config: config.scheduler });
    case 'asha':
      return new AshaScheduler({ ...common, config: config.scheduler });
    case 'random':
      return new RandomScheduler({ ...common, config: config.scheduler });
  }
}
