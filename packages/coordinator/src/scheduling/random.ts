import type { Budget, RandomConfig } from '../study/config.js';
import type { SearchSpace } from '../study/search-space.js';
import type { Decision, Scheduler, StudyState } from './types.js';
import { Gate, isActiveRung, lastRung, TERMINAL_TRIAL_STATUSES, TrialProposer, WorkingState } from './working-state.js';

/** The baseline: `maxTrials` seeded random configurations, each trained `epochs` epochs in one rung. */
export interface RandomSchedulerOptions {
  config: RandomConfig;
  space: SearchSpace;
  seed: number;
  budget: Budget;
}

export class RandomScheduler implements Scheduler {
  private readonly proposer: TrialProposer;

  constructor(private readonly options: RandomSchedulerOptions) {
    this.proposer = new TrialProposer(options.space, options.seed);
  }

  plannedTrials(): number {
    return Math.min(this.options.config.maxTrials, this.options.budget.maxTrials ?? Number.POSITIVE_INFINITY);
  }

  plannedRungs(): number {
    return this.plannedTrials();
  }

  decide(state: StudyState, idleSlots: number): Decision[] {
    const working = new WorkingState(state);
    const gate = Gate.of(this.options.budget, this.options.config.maxTrials);
    const decisions: Decision[] = [];
    const placement = { bracket: null, iteration: null, firstRung: { rung: 0, fromEpoch: 0, toEpoch: this.options.config.epochs } };
    for (let slot = 0; slot < Math.floor(idleSlots); slot++) {
      const decision = this.proposer.propose(working, gate, placement);
      if (decision === null) break;
      working.apply(decision);
      decisions.push(decision);
    }
    for (const trial of working.trials) {
      const rung = lastRung(trial);
      if (TERMINAL_TRIAL_STATUSES.has(trial.status) || !rung || isActiveRung(rung)) continue;
      const stop: Decision = { kind: 'stop-trial', trialId: trial.id, reason: rung.status === 'completed' ? 'finished' : 'failed' };
      working.apply(stop);
      decisions.push(stop);
    }
    // Probe whether another trial could still be created (without creating it).
    const moreWork = gate.canCreate(working) && this.proposer.propose(working, gate, placement) !== null;
    if (!moreWork && !working.hasActiveRungs()) {
      decisions.push({ kind: 'complete-study', reason: gate.completionReason(working, working.trials.length >= this.options.config.maxTrials) });
    }
    return decisions;
  }
}
