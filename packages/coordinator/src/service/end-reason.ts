import type { CompletionReason, Scheduler } from '../scheduling/types.js';
import type { StudyDefinition } from './study-definition.js';

/**
 * Why a study ends before its plan, in words people act on, e.g. "the search space has only 1
 * distinct configuration; Hyperband planned 17". Stored with the study; shown by `status`,
 * `submit --wait` and the dashboard.
 */

const SCHEDULER_NAMES: Record<string, string> = {
  hyperband: 'Hyperband',
  asha: 'ASHA',
  random: 'random search',
};

function schedulerName(def: StudyDefinition): string {
  const type = (def.config.scheduler as { type?: unknown } | undefined)?.type;
  return typeof type === 'string' ? (SCHEDULER_NAMES[type] ?? type) : 'the scheduler';
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The sentence stored as the study's end reason; null when the plan ran to its end. */
export function describeEndReason(
  reason: CompletionReason | undefined,
  def: StudyDefinition,
  scheduler: Scheduler,
): string | null {
  const budget = (def.config.budget ?? {}) as { maxTrials?: unknown; maxWallClockMinutes?: unknown };
  switch (reason) {
    case 'space-exhausted': {
      const size = def.distinctConfigurations?.() ?? null;
      const planned = scheduler.plannedTrials?.() ?? null;
      const space =
        size === null
          ? 'every distinct configuration of the search space was tried'
          : `the search space has only ${plural(size, 'distinct configuration')}`;
      return planned === null ? space : `${space}; ${schedulerName(def)} planned ${planned}`;
    }
    case 'max-trials':
      return `the trial budget ran out (budget.maxTrials ${String(budget.maxTrials)})`;
    case 'wall-clock':
      return `the time budget ran out (budget.maxWallClockMinutes ${String(budget.maxWallClockMinutes)})`;
    default:
      return null;
  }
}

/** Said at submission when the plan wants more distinct configurations than the space holds. */
export function planWarning(def: StudyDefinition, scheduler: Scheduler): string | null {
  const size = def.distinctConfigurations?.() ?? null;
  const planned = scheduler.plannedTrials?.() ?? null;
  if (size === null || planned === null || size >= planned) return null;
  return (
    `the search space has only ${plural(size, 'distinct configuration')} but ${schedulerName(def)} plans ` +
    `${planned}: at most ${plural(size, 'trial')} will run; widen searchSpace (ranges or choices) to use the plan`
  );
}
