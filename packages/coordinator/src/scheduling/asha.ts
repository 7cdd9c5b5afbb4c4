import type { AshaConfig, Budget } from '../study/config.js';
import type { SearchSpace } from '../study/search-space.js';
import type { Sampler } from './sampler.js';
import { RankedResults, type RankedResult } from './ranked-results.js';
import { byCreation, settledRung, StudyMirror, type TrialIndex } from './study-mirror.js';
import type { Decision, RungRecord, Scheduler, StopReason, StudyState, TrialRecord } from './types.js';
import {
  Gate,
  isEligibleRung,
  isTerminalRung,
  rungOf,
  TERMINAL_TRIAL_STATUSES,
  TrialProposer,
} from './working-state.js';

/**
 * Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
 * Tuning", MLSys 2020, Algorithm 2). Rung k trains to minEpochs·factor^k epochs (≤ maxEpochs).
 * Whenever a slot is free: promote a trial that is in the top 1/factor of the finished results of
 * its rung and not promoted yet, looking at the highest rung first; otherwise start a new trial
 * (until maxTrials). Nothing ever waits for a rung to fill, so workers never idle at a barrier.
 *
 * Cost per call: O(changed trials · log trials). `AshaIndex` keeps, per rung, the finished
 * results sorted best first and the promotable ones (not promoted yet) in the same order; the
 * best promotable result is in the top 1/factor iff its rank among all results is below the
 * quota. Loser stops wait in their own set until the study ends.
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
  /** Proposes new configurations (default: random search). */
  sampler?: Sampler;
}

export class AshaScheduler implements Scheduler {
  readonly rungEpochs: number[];
  private readonly proposer: TrialProposer;
  private readonly index: AshaIndex;
  private readonly mirror: StudyMirror;

  constructor(private readonly options: AshaSchedulerOptions) {
    const { minEpochs, maxEpochs, factor } = options.config;
    this.rungEpochs = ashaRungEpochs(minEpochs, maxEpochs, factor);
    this.proposer = new TrialProposer(options.space, options.seed, options.sampler);
    this.index = new AshaIndex(this.rungEpochs.length - 1);
    this.mirror = new StudyMirror(this.index);
  }

  plannedRungs(): null {
    return null;
  }

  plannedTrials(): number {
    return Math.min(this.options.config.maxTrials, this.options.budget.maxTrials ?? Number.POSITIVE_INFINITY);
  }

  decide(state: StudyState, idleSlots: number): Decision[] {
    const mirror = this.mirror;
    mirror.sync(state);
    const gate = Gate.of(this.options.budget, this.options.config.maxTrials);
    // Promotions and new trials only add queued rungs, so the quotas hold for the whole call.
    const quotas = this.index.finished.map((count) => Math.floor(count / this.options.config.factor));
    const decisions: Decision[] = [];
    let slots = Math.max(0, Math.floor(idleSlots));
    let moreWork = true;
    while (slots > 0) {
      const decision = this.nextJob(gate, quotas);
      if (decision === null) {
        moreWork = false;
        break;
      }
      mirror.apply(decision);
      decisions.push(decision);
      slots--;
    }
    if (moreWork) moreWork = this.nextJob(gate, quotas) !== null;
    const ending = !moreWork && mirror.activeRungs === 0;

    // A finished rung may still enter the top 1/factor as more results arrive: losers stop only at the end.
    const top = this.rungEpochs.length - 1;
    const candidates = ending
      ? [...this.index.stopNow.values(), ...this.index.stopAtEnd.values()]
      : [...this.index.stopNow.values()];
    const stops: Decision[] = [];
    for (const trial of byCreation(candidates)) {
      const rung = settledRung(trial)!;
      let reason: StopReason;
      if (rung.status !== 'completed' || rung.score === null) reason = 'failed';
      else if (rung.rung >= top) reason = 'finished';
      else reason = gate.canPromote(mirror) ? 'lost' : 'budget';
      stops.push({ kind: 'stop-trial', trialId: trial.id, reason });
    }
    // Stops come last and nothing after them reads trial statuses, so they are not applied to the
    // mirror (applying one re-ranks nothing but costs index updates); the next sync sees them in the state.
    decisions.push(...stops);
    if (ending) {
      const planComplete = mirror.trialCount >= this.options.config.maxTrials;
      decisions.push({ kind: 'complete-study', reason: gate.completionReason(mirror, planComplete) });
    }
    return decisions;
  }

  private nextJob(gate: Gate, quotas: number[]): Decision | null {
    if (gate.canPromote(this.mirror)) {
      for (let k = this.rungEpochs.length - 2; k >= 0; k--) {
        const best = this.index.promotable[k]!.first();
        if (best && this.index.results[k]!.rankOf(best) < quotas[k]!) {
          return {
            kind: 'promote',
            trialId: best.trialId,
            rung: k + 1,
            fromEpoch: this.rungEpochs[k]!,
            toEpoch: this.rungEpochs[k + 1]!,
          };
        }
      }
    }
    return this.proposer.propose(this.mirror, gate, {
      bracket: null,
      iteration: null,
      firstRung: { rung: 0, fromEpoch: 0, toEpoch: this.rungEpochs[0]! },
    });
  }
}

/**
 * Per rung below the top: how many results finished (failed ones count, as the worst), the
 * eligible results best first, and those among them whose trial may still move up. Plus the
 * trials that must stop now (failed, or finished the top rung) and those that stop at the end.
 */
class AshaIndex implements TrialIndex {
  readonly finished: number[];
  readonly results: RankedResults[];
  readonly promotable: RankedResults[];
  readonly stopNow = new Map<string, TrialRecord>();
  readonly stopAtEnd = new Map<string, TrialRecord>();

  constructor(private readonly levels: number) {
    this.finished = new Array<number>(levels).fill(0);
    this.results = Array.from({ length: levels }, () => new RankedResults());
    this.promotable = Array.from({ length: levels }, () => new RankedResults());
  }

  add(trial: TrialRecord): void {
    for (const entry of this.entriesOf(trial)) this.apply(entry, true);
  }

  remove(trial: TrialRecord): void {
    for (const entry of this.entriesOf(trial)) this.apply(entry, false);
  }

  /** Applies only the difference: most changes (a rung starts, a promotion) touch one list or none. */
  replace(old: TrialRecord, next: TrialRecord): void {
    const before = this.entriesOf(old);
    const after = this.entriesOf(next);
    const kept = new Set<number>();
    for (const entry of before) {
      const same = after.findIndex((candidate, i) => !kept.has(i) && sameEntry(candidate, entry));
      if (same >= 0) kept.add(same);
      else this.apply(entry, false);
    }
    after.forEach((entry, i) => {
      if (!kept.has(i)) this.apply(entry, true);
    });
  }

  clear(): void {
    this.finished.fill(0);
    for (const list of [...this.results, ...this.promotable]) list.clear();
    this.stopNow.clear();
    this.stopAtEnd.clear();
  }

  /** Everything one trial contributes to the index. */
  private entriesOf(trial: TrialRecord): Entry[] {
    const entries: Entry[] = [];
    const open = !TERMINAL_TRIAL_STATUSES.has(trial.status);
    for (const rung of trial.rungs) {
      if (rung.rung >= this.levels || !isTerminalRung(rung)) continue;
      entries.push({ kind: 'finished', level: rung.rung, trial });
      if (!isEligibleRung(rung)) continue;
      const result = resultOf(trial, rung);
      entries.push({ kind: 'result', level: rung.rung, trial, result });
      if (open && rungOf(trial, rung.rung + 1) === undefined)
        entries.push({ kind: 'promotable', level: rung.rung, trial, result });
    }
    const settled = settledRung(trial);
    if (settled) {
      const waits = settled.status === 'completed' && settled.score !== null && settled.rung < this.levels;
      entries.push({ kind: waits ? 'stop-at-end' : 'stop-now', level: settled.rung, trial });
    }
    return entries;
  }

  private apply(entry: Entry, adding: boolean): void {
    switch (entry.kind) {
      case 'finished':
        this.finished[entry.level]! += adding ? 1 : -1;
        return;
      case 'result':
      case 'promotable': {
        const list = (entry.kind === 'result' ? this.results : this.promotable)[entry.level]!;
        if (adding) list.insert(entry.result!);
        else list.delete(entry.result!);
        return;
      }
      case 'stop-now':
      case 'stop-at-end': {
        const set = entry.kind === 'stop-now' ? this.stopNow : this.stopAtEnd;
        if (adding) set.set(entry.trial.id, entry.trial);
        else if (set.get(entry.trial.id) === entry.trial) set.delete(entry.trial.id);
        return;
      }
    }
  }
}

interface Entry {
  kind: 'finished' | 'result' | 'promotable' | 'stop-now' | 'stop-at-end';
  level: number;
  trial: TrialRecord;
  result?: RankedResult;
}

/** Same contribution; stop entries hold the trial object itself, so a new snapshot always re-registers. */
function sameEntry(a: Entry, b: Entry): boolean {
  if (a.kind !== b.kind || a.level !== b.level) return false;
  if (a.kind === 'stop-now' || a.kind === 'stop-at-end') return a.trial === b.trial;
  if (!a.result || !b.result) return true;
  return (
    a.result.trialId === b.result.trialId &&
    a.result.index === b.result.index &&
    a.result.score === b.result.score &&
    a.result.meetsConstraints === b.result.meetsConstraints
  );
}

function resultOf(trial: TrialRecord, rung: RungRecord): RankedResult {
  return {
    trialId: trial.id,
    index: trial.index,
    score: rung.score,
    meetsConstraints: rung.meetsConstraints,
  };
}
