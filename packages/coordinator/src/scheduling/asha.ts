import type { AshaConfig, Budget } from '../study/config.js';
import type { SearchSpace } from '../study/search-space.js';
import { RankCache, type RankedResult } from './rank-cache.js';
import type { Decision, Scheduler, StopReason, StudyState, TrialRecord } from './types.js';
import {
  Gate,
  isActiveRung,
  isTerminalRung,
  isEligibleRung,
  lastRung,
  rungOf,
  TERMINAL_TRIAL_STATUSES,
  TrialProposer,
  WorkingState,
} from './working-state.js';

/**
 * Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
 * Tuning", MLSys 2020, Algorithm 2). Rung k trains to minEpochs·factor^k epochs (≤ maxEpochs).
 * Whenever a slot is free: promote a trial that is in the top 1/factor of the finished results of
 * its rung and not promoted yet, looking at the highest rung first; otherwise start a new trial
 * (until maxTrials). Nothing ever waits for a rung to fill, so workers never idle at a barrier.
 */

/** Cumulative epochs of each ASHA rung. */
export function ashaRungEpochs(minEpochs: number, maxEpochs: number, factor: number): number[] {
  const epochs: number[] = [];
  for (let e = minEpochs; e <= maxEpochs; e *= factor) epochs.push(e);
  return epochs;
}

export interface AshaSchedulerOptions {
  config: AshaConfig;
  space: SearchSpace;
  seed: number;
  budget: Budget;
}

export class AshaScheduler implements Scheduler {
  readonly rungEpochs: number[];
  private readonly proposer: TrialProposer;
  /** Sorted finished results per rung, reused across calls (see RankCache: never changes decisions). */
  private readonly rankCaches: RankCache[];

  constructor(private readonly options: AshaSchedulerOptions) {
    const { minEpochs, maxEpochs, factor } = options.config;
    this.rungEpochs = ashaRungEpochs(minEpochs, maxEpochs, factor);
    this.proposer = new TrialProposer(options.space, options.seed);
    this.rankCaches = this.rungEpochs.map(() => new RankCache());
  }

  plannedRungs(): null {
    return null;
  }

  plannedTrials(): number {
    return Math.min(this.options.config.maxTrials, this.options.budget.maxTrials ?? Number.POSITIVE_INFINITY);
  }

  decide(state: StudyState, idleSlots: number): Decision[] {
    const working = new WorkingState(state);
    const gate = Gate.of(this.options.budget, this.options.config.maxTrials);
    const ladders = this.ladders(working);
    const decisions: Decision[] = [];
    let slots = Math.max(0, Math.floor(idleSlots));
    let moreWork = true;
    while (slots > 0) {
      const decision = this.nextJob(working, gate, ladders);
      if (decision === null) {
        moreWork = false;
        break;
      }
      working.apply(decision);
      decisions.push(decision);
      slots--;
    }
    if (moreWork) moreWork = this.nextJob(working, gate, ladders) !== null;
    const ending = !moreWork && !working.hasActiveRungs();

    const top = this.rungEpochs.length - 1;
    for (const trial of working.trials) {
      if (TERMINAL_TRIAL_STATUSES.has(trial.status)) continue;
      const rung = lastRung(trial);
      if (!rung || isActiveRung(rung)) continue;
      let reason: StopReason | null = null;
      if (rung.status !== 'completed' || rung.score === null) reason = 'failed';
      else if (rung.rung >= top) reason = 'finished';
      // A finished rung may still enter the top 1/factor as more results arrive: stop it only at the end.
      else if (ending) reason = gate.canPromote(working) ? 'lost' : 'budget';
      if (reason) {
        const stop: Decision = { kind: 'stop-trial', trialId: trial.id, reason };
        working.apply(stop);
        decisions.push(stop);
      }
    }
    if (ending) {
      const planComplete = working.trials.length >= this.options.config.maxTrials;
      decisions.push({ kind: 'complete-study', reason: gate.completionReason(working, planComplete) });
    }
    return decisions;
  }

  private nextJob(working: WorkingState, gate: Gate, ladders: Ladder[]): Decision | null {
    if (gate.canPromote(working)) {
      for (let k = this.rungEpochs.length - 2; k >= 0; k--) {
        const candidate = ladders[k]!.peek();
        if (candidate) {
          return {
            kind: 'promote',
            trialId: candidate.id,
            rung: k + 1,
            fromEpoch: this.rungEpochs[k]!,
            toEpoch: this.rungEpochs[k + 1]!,
          };
        }
      }
    }
    return this.proposer.propose(working, gate, {
      bracket: null,
      iteration: null,
      firstRung: { rung: 0, fromEpoch: 0, toEpoch: this.rungEpochs[0]! },
    });
  }

  /**
   * Per rung below the top: its top 1/factor finished results, best first. Promotions and new
   * trials only add queued rungs, so these lists stay valid for the whole `decide` call.
   */
  private ladders(working: WorkingState): Ladder[] {
    const levels = this.rungEpochs.length - 1;
    const finishedCount = new Array<number>(levels).fill(0);
    const eligible: RankedResult[][] = Array.from({ length: levels }, () => []);
    for (const trial of working.trials) {
      for (const rung of trial.rungs) {
        if (rung.rung >= levels || !isTerminalRung(rung)) continue;
        finishedCount[rung.rung]!++;
        if (isEligibleRung(rung)) {
          eligible[rung.rung]!.push({ trialId: trial.id, index: trial.index, score: rung.score, meetsConstraints: rung.meetsConstraints });
        }
      }
    }
    return eligible.map((results, k) => {
      // Failed rungs count as results (the worst ones) but are never promoted.
      const quota = Math.floor(finishedCount[k]! / this.options.config.factor);
      const ranked = this.rankCaches[k]!.update(results);
      return new Ladder(ranked, quota, working, k);
    });
  }
}

/** The top of one rung, consumed best first as its trials get promoted. */
class Ladder {
  private next = 0;

  constructor(
    private readonly ranked: readonly RankedResult[],
    private readonly quota: number,
    private readonly working: WorkingState,
    private readonly k: number,
  ) {}

  /** The best trial of the top not promoted yet (not consumed: promoting it moves the ladder on). */
  peek(): TrialRecord | null {
    while (this.next < Math.min(this.quota, this.ranked.length)) {
      const trial = this.working.byId.get(this.ranked[this.next]!.trialId)!;
      if (rungOf(trial, this.k + 1) === undefined && !TERMINAL_TRIAL_STATUSES.has(trial.status)) return trial;
      this.next++;
    }
    return null;
  }
}
