import type { Budget, RandomConfig } from '../study/config.js';
import type { SearchSpace } from '../study/search-space.js';
import type { Sampler } from './sampler.js';
import { byCreation, settledRung, StudyMirror, type TrialIndex } from './study-mirror.js';
import type { Decision, Scheduler, StudyState, TrialRecord } from './types.js';
import { Gate, TrialProposer } from './working-state.js';

/** The baseline: `maxTrials` seeded random configurations, each trained `epochs` epochs in one rung. */
export interface RandomSchedulerOptions {
  config: RandomConfig;
  space: SearchSpace;
  seed: number;
  budget: Budget;
  /** Proposes new configurations (default: random search). */
  sampler?: Sampler;
}

/** Trials whose rung ended and that are still open: each stops at the next call. */
class SettledTrials implements TrialIndex {
  readonly trials = new Map<string, TrialRecord>();

  add(trial: TrialRecord): void {
    if (settledRung(trial)) this.trials.set(trial.id, trial);
  }

  remove(trial: TrialRecord): void {
    if (this.trials.get(trial.id) === trial) this.trials.delete(trial.id);
  }

  clear(): void {
    this.trials.clear();
  }
}

export class RandomScheduler implements Scheduler {
  private readonly proposer: TrialProposer;
  private readonly settled = new SettledTrials();
  private readonly mirror = new StudyMirror(this.settled);

  constructor(private readonly options: RandomSchedulerOptions) {
    this.proposer = new TrialProposer(options.space, options.seed, options.sampler);
  }

  plannedTrials(): number {
    return Math.min(this.options.config.maxTrials, this.options.budget.maxTrials ?? Number.POSITIVE_INFINITY);
  }

  plannedRungs(): number {
    return this.plannedTrials();
  }

  decide(state: StudyState, idleSlots: number): Decision[] {
    const mirror = this.mirror;
    mirror.sync(state);
    const gate = Gate.of(this.options.budget, this.options.config.maxTrials);
    const decisions: Decision[] = [];
    const placement = {
      bracket: null,
      iteration: null,
      firstRung: { rung: 0, fromEpoch: 0, toEpoch: this.options.config.epochs },
    };
    for (let slot = 0; slot < Math.floor(idleSlots); slot++) {
      const decision = this.proposer.propose(mirror, gate, placement);
      if (decision === null) break;
      mirror.apply(decision);
      decisions.push(decision);
    }
    const stops: Decision[] = byCreation(this.settled.trials.values()).map((trial) => ({
      kind: 'stop-trial',
      trialId: trial.id,
      reason: settledRung(trial)!.status === 'completed' ? 'finished' : 'failed',
    }));
    // Stops come last and nothing after them reads trial statuses, so they are not applied to the
    // mirror (applying one re-ranks nothing but costs index updates); the next sync sees them in the state.
    decisions.push(...stops);
    // Probe whether another trial could still be created (without creating it).
    const moreWork = gate.canCreate(mirror) && this.proposer.propose(mirror, gate, placement) !== null;
    if (!moreWork && mirror.activeRungs === 0) {
      decisions.push({
        kind: 'complete-study',
        reason: gate.completionReason(mirror, mirror.trialCount >= this.options.config.maxTrials),
      });
    }
    return decisions;
  }
}
