import type { Budget } from '../study/config.js';
import type { SearchSpace } from '../study/search-space.js';
import { RandomSampler, type Observation, type Sampler } from './sampler.js';
import type { CompletionReason, Decision, NewTrial, RungRecord, TrialRecord, TrialStatus } from './types.js';

/**
 * Pieces every scheduler shares: rung/trial predicates, the budget gate and the seeded proposer.
 * They read the study through the small structural views below, so they work both on the
 * incremental `StudyMirror` and on the full-scan reference implementation used by tests.
 */

/** What the budget gate reads: trials so far (including ones proposed in this call) and the clock. */
export interface GateView {
  readonly trialCount: number;
  readonly elapsedMinutes: number;
}

/** What the proposer reads on top: the next creation index and every hash tried so far. */
export interface ProposerView extends GateView {
  readonly nextIndex: number;
  readonly triedHashes: ReadonlySet<string>;
  /** The sampler's history (see sampler.ts); absent means no observations. */
  history?(): readonly Observation[];
}

/** Trial statuses after which a trial never trains again. */
export const TERMINAL_TRIAL_STATUSES: ReadonlySet<TrialStatus> = new Set([
  'stopped',
  'completed',
  'failed',
  'cancelled',
]);

export function isActiveRung(rung: RungRecord): boolean {
  return rung.status === 'queued' || rung.status === 'running';
}

export function isTerminalRung(rung: RungRecord): boolean {
  return !isActiveRung(rung);
}

/** A finished rung that may be promoted: completed with a finite score. Failed ones rank as worst and never move on. */
export function isEligibleRung(rung: RungRecord | undefined): rung is RungRecord {
  return rung !== undefined && rung.status === 'completed' && rung.score !== null;
}

export function lastRung(trial: TrialRecord): RungRecord | undefined {
  return trial.rungs[trial.rungs.length - 1];
}

export function rungOf(trial: TrialRecord, rung: number): RungRecord | undefined {
  return trial.rungs.find((r) => r.rung === rung);
}

export function isSortedBy<T>(items: readonly T[], key: (item: T) => number): boolean {
  for (let i = 1; i < items.length; i++) if (key(items[i - 1]!) > key(items[i]!)) return false;
  return true;
}

/** Limits on new work: trial count, wall clock, and whether the space still has untried points. */
export class Gate {
  exhausted = false;

  constructor(
    private readonly maxTrials: number,
    private readonly maxWallClockMinutes: number | null,
  ) {}

  static of(budget: Budget, schedulerMaxTrials: number = Number.POSITIVE_INFINITY): Gate {
    return new Gate(
      Math.min(schedulerMaxTrials, budget.maxTrials ?? Number.POSITIVE_INFINITY),
      budget.maxWallClockMinutes,
    );
  }

  timeOver(state: GateView): boolean {
    return this.maxWallClockMinutes !== null && state.elapsedMinutes >= this.maxWallClockMinutes;
  }

  trialsOver(state: GateView): boolean {
    return state.trialCount >= this.maxTrials;
  }

  /** New configurations may still be created. */
  canCreate(state: GateView): boolean {
    return !this.exhausted && !this.trialsOver(state) && !this.timeOver(state);
  }

  /** New rungs of existing trials may still be queued (a wall-clock budget stops them too). */
  canPromote(state: GateView): boolean {
    return !this.timeOver(state);
  }

  /** Why nothing more will run; `planComplete` says whether the scheduler's own plan ran out. */
  completionReason(state: GateView, planComplete: boolean): CompletionReason {
    if (this.timeOver(state)) return 'wall-clock';
    if (this.exhausted) return 'space-exhausted';
    if (!planComplete && this.trialsOver(state)) return 'max-trials';
    return 'plan';
  }
}

/** Seeded, duplicate-free proposals of new trials; flags the gate when the space is exhausted. */
export class TrialProposer {
  private readonly sampler: Sampler;

  /** Without a sampler: random search (today's draws). */
  constructor(space: SearchSpace, seed: number, sampler?: Sampler) {
    this.sampler = sampler ?? new RandomSampler(space, seed);
  }

  propose(
    state: ProposerView,
    gate: Gate,
    placement: Pick<NewTrial, 'bracket' | 'iteration' | 'firstRung'>,
  ): Decision | null {
    if (!gate.canCreate(state)) return null;
    const index = state.nextIndex;
    const proposal = this.sampler.propose({
      index,
      tried: state.triedHashes,
      history: () => state.history?.() ?? [],
    });
    if (proposal === null) {
      gate.exhausted = true;
      return null;
    }
    return { kind: 'create-trial', trial: { index, ...placement, ...proposal } };
  }
}

/** Best first by (constraints met, score), ties broken by creation order so ranking is deterministic. */
export function byRank<T extends { trial: TrialRecord; rung: RungRecord }>(
  entries: T[],
  compare: (a: RungRecord, b: RungRecord) => number,
): T[] {
  return [...entries].sort((a, b) => compare(a.rung, b.rung) || a.trial.index - b.trial.index);
}
