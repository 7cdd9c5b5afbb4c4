import type { Budget } from '../study/config.js';
import { SearchSpaceSampler, type SearchSpace } from '../study/search-space.js';
import type { CompletionReason, Decision, NewTrial, RungRecord, StudyState, TrialRecord, TrialStatus } from './types.js';

/**
 * A scheduler's scratch copy of the study state. `decide` applies its own decisions here as it
 * makes them, so that several decisions of one call see each other (no two proposals share a
 * hash, a slot is not filled twice) while the caller's state is never mutated.
 */

/** Trial statuses after which a trial never trains again. */
export const TERMINAL_TRIAL_STATUSES: ReadonlySet<TrialStatus> = new Set(['stopped', 'completed', 'failed', 'cancelled']);

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

function isSortedBy<T>(items: readonly T[], key: (item: T) => number): boolean {
  for (let i = 1; i < items.length; i++) if (key(items[i - 1]!) > key(items[i]!)) return false;
  return true;
}

/** Provisional id of a trial created during this `decide` call (the coordinator assigns the real one). */
const PENDING_PREFIX = '\u0000pending:';

export class WorkingState {
  readonly trials: TrialRecord[];
  readonly byId = new Map<string, TrialRecord>();
  readonly triedHashes = new Set<string>();
  readonly elapsedMinutes: number;
  nextIndex: number;

  constructor(state: StudyState) {
    // Shallow copies: rung arrays are shared with the caller and replaced (never mutated) on change.
    this.trials = state.trials.map((trial) => ({
      ...trial,
      rungs: isSortedBy(trial.rungs, (r) => r.rung) ? trial.rungs : [...trial.rungs].sort((a, b) => a.rung - b.rung),
    }));
    if (!isSortedBy(this.trials, (t) => t.index)) this.trials.sort((a, b) => a.index - b.index);
    for (const trial of this.trials) {
      this.byId.set(trial.id, trial);
      this.triedHashes.add(trial.hpHash);
    }
    this.elapsedMinutes = state.elapsedMinutes;
    this.nextIndex = this.trials.reduce((max, trial) => Math.max(max, trial.index + 1), 0);
  }

  hasActiveRungs(): boolean {
    return this.trials.some((trial) => trial.rungs.some(isActiveRung));
  }

  apply(decision: Decision): void {
    switch (decision.kind) {
      case 'create-trial': {
        const { trial } = decision;
        const record: TrialRecord = {
          id: `${PENDING_PREFIX}${trial.index}`,
          index: trial.index,
          bracket: trial.bracket,
          iteration: trial.iteration,
          hyperparameters: trial.hyperparameters,
          hpHash: trial.hpHash,
          status: 'running',
          rungs: [{ ...trial.firstRung, status: 'queued', score: null, meetsConstraints: false }],
        };
        this.trials.push(record);
        this.byId.set(record.id, record);
        this.triedHashes.add(trial.hpHash);
        this.nextIndex = Math.max(this.nextIndex, trial.index + 1);
        return;
      }
      case 'promote': {
        const trial = this.byId.get(decision.trialId)!;
        trial.status = 'running';
        trial.rungs = [
          ...trial.rungs,
          { rung: decision.rung, fromEpoch: decision.fromEpoch, toEpoch: decision.toEpoch, status: 'queued', score: null, meetsConstraints: false },
        ];
        return;
      }
      case 'stop-trial': {
        const trial = this.byId.get(decision.trialId)!;
        trial.status = decision.reason === 'finished' ? 'completed' : 'stopped';
        return;
      }
      case 'complete-study':
        return;
    }
  }
}

/** Limits on new work: trial count, wall clock, and whether the space still has untried points. */
export class Gate {
  exhausted = false;

  constructor(
    private readonly maxTrials: number,
    private readonly maxWallClockMinutes: number | null,
  ) {}

  static of(budget: Budget, schedulerMaxTrials: number = Number.POSITIVE_INFINITY): Gate {
    return new Gate(Math.min(schedulerMaxTrials, budget.maxTrials ?? Number.POSITIVE_INFINITY), budget.maxWallClockMinutes);
  }

  timeOver(state: WorkingState): boolean {
    return this.maxWallClockMinutes !== null && state.elapsedMinutes >= this.maxWallClockMinutes;
  }

  trialsOver(state: WorkingState): boolean {
    return state.trials.length >= this.maxTrials;
  }

  /** New configurations may still be created. */
  canCreate(state: WorkingState): boolean {
    return !this.exhausted && !this.trialsOver(state) && !this.timeOver(state);
  }

  /** New rungs of existing trials may still be queued (a wall-clock budget stops them too). */
  canPromote(state: WorkingState): boolean {
    return !this.timeOver(state);
  }

  /** Why nothing more will run; `planComplete` says whether the scheduler's own plan ran out. */
  completionReason(state: WorkingState, planComplete: boolean): CompletionReason {
    if (this.timeOver(state)) return 'wall-clock';
    if (this.exhausted) return 'space-exhausted';
    if (!planComplete && this.trialsOver(state)) return 'max-trials';
    return 'plan';
  }
}

/** Seeded, duplicate-free proposals of new trials; flags the gate when the space is exhausted. */
export class TrialProposer {
  private readonly sampler: SearchSpaceSampler;

  constructor(space: SearchSpace, seed: number) {
    this.sampler = new SearchSpaceSampler(space, seed);
  }

  propose(
    state: WorkingState,
    gate: Gate,
    placement: Pick<NewTrial, 'bracket' | 'iteration' | 'firstRung'>,
  ): Decision | null {
    if (!gate.canCreate(state)) return null;
    const index = state.nextIndex;
    const proposal = this.sampler.propose(index, state.triedHashes);
    if (proposal === null) {
      gate.exhausted = true;
      return null;
    }
    return { kind: 'create-trial', trial: { index, ...placement, ...proposal } };
  }
}

/** Best first by (constraints met, score), ties broken by creation order so ranking is deterministic. */
export function byRank<T extends { trial: TrialRecord; rung: RungRecord }>(entries: T[], compare: (a: RungRecord, b: RungRecord) => number): T[] {
  return [...entries].sort((a, b) => compare(a.rung, b.rung) || a.trial.index - b.trial.index);
}
