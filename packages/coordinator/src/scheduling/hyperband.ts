import type { Budget, HyperbandConfig } from '../study/config.js';
import { compareRankable } from '../study/objective.js';
import type { SearchSpace } from '../study/search-space.js';
import { hyperbandBrackets, hyperbandPlan, type HyperbandBracket, type HyperbandPlan } from './hyperband-plan.js';
import type { Decision, Scheduler, StopReason, StudyState, TrialRecord } from './types.js';
import {
  byRank,
  Gate,
  isActiveRung,
  isEligibleRung,
  isTerminalRung,
  lastRung,
  rungOf,
  TERMINAL_TRIAL_STATUSES,
  TrialProposer,
  WorkingState,
} from './working-state.js';

/**
 * Synchronous Hyperband with KerasTuner's oracle semantics: iterations × brackets run from the
 * most aggressive bracket down to bracket 0; a bracket's round r has `_get_size(b, r)` trials
 * trained to `_get_epochs(b, r)` epochs; promoted trials warm-start from the previous round's
 * epochs. Like the oracle, a new bracket starts only when no open bracket can give work, so
 * several brackets sample at once when workers would otherwise wait.
 *
 * One deliberate difference: KerasTuner promotes the best *completed* trial as soon as more than
 * `size(r-1) - size(r)` of the previous round finished; here promotion waits until the whole
 * round finished and takes its top `size(r)`. The counts and epochs are identical, and the set
 * of promoted trials no longer depends on which worker happened to finish first.
 */

interface BracketInstance {
  /** Position in the run order (iteration-major, bracket descending). */
  seq: number;
  iteration: number;
  bracket: HyperbandBracket;
}

/** One started bracket: its trials per round, derived from the state (a trial is in round r if it has rung r). */
class BracketView {
  readonly rounds: TrialRecord[][];
  /** Ranking per round, cached until a trial joins that round (scores of finished rungs never change within a call). */
  private readonly rankedCache = new Map<number, TrialRecord[]>();

  constructor(
    readonly instance: BracketInstance,
    trials: TrialRecord[],
  ) {
    this.rounds = instance.bracket.rounds.map(() => []);
    for (const trial of trials) for (const rung of trial.rungs) this.rounds[rung.rung]?.push(trial);
  }

  add(round: number, trial: TrialRecord): void {
    this.rounds[round]?.push(trial);
    this.rankedCache.delete(round);
  }

  size(round: number): number {
    return this.instance.bracket.rounds[round]!.trials;
  }

  allTerminal(round: number): boolean {
    return this.rounds[round]!.every((trial) => isTerminalRung(rungOf(trial, round)!));
  }

  /** Trials of `round` ranked best first; only completed, scored rungs can move on. */
  ranked(round: number): TrialRecord[] {
    let ranked = this.rankedCache.get(round);
    if (!ranked) {
      const entries = this.rounds[round]!.map((trial) => ({ trial, rung: rungOf(trial, round)! })).filter((entry) =>
        isEligibleRung(entry.rung),
      );
      ranked = byRank(entries, compareRankable).map((entry) => entry.trial);
      this.rankedCache.set(round, ranked);
    }
    return ranked;
  }

  /** The trials that move from round - 1 into `round` (known once round - 1 finished). */
  chosenFor(round: number): TrialRecord[] {
    return this.ranked(round - 1).slice(0, this.size(round));
  }

  /** No trial will ever be added to `round` again. */
  closed(round: number, canAddNew: boolean, canPromote: boolean): boolean {
    if (round === 0) return this.rounds[0]!.length >= this.size(0) || !canAddNew;
    if (!this.closed(round - 1, canAddNew, canPromote) || !this.allTerminal(round - 1)) return false;
    if (!canPromote) return true;
    return this.chosenFor(round).every((trial) => rungOf(trial, round) !== undefined);
  }

  finished(canAddNew: boolean, canPromote: boolean): boolean {
    const last = this.rounds.length - 1;
    return this.closed(last, canAddNew, canPromote) && this.allTerminal(last);
  }
}

export interface HyperbandSchedulerOptions {
  config: HyperbandConfig;
  space: SearchSpace;
  seed: number;
  budget: Budget;
}

export class HyperbandScheduler implements Scheduler {
  readonly plan: HyperbandPlan;
  private readonly sequence: BracketInstance[];
  private readonly seqByKey = new Map<string, number>();
  private readonly proposer: TrialProposer;

  constructor(private readonly options: HyperbandSchedulerOptions) {
    const { maxEpochs, factor, iterations } = options.config;
    this.plan = hyperbandPlan(maxEpochs, factor, iterations);
    const brackets = hyperbandBrackets(maxEpochs, factor);
    this.sequence = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      for (const bracket of brackets) {
        this.seqByKey.set(`${iteration}:${bracket.bracket}`, this.sequence.length);
        this.sequence.push({ seq: this.sequence.length, iteration, bracket });
      }
    }
    this.proposer = new TrialProposer(options.space, options.seed);
  }

  plannedRungs(): number {
    return this.plan.rungs;
  }

  plannedTrials(): number {
    return this.plan.trials;
  }

  decide(state: StudyState, idleSlots: number): Decision[] {
    const working = new WorkingState(state);
    const gate = Gate.of(this.options.budget);
    const views = this.views(working);
    const decisions: Decision[] = [];
    let slots = Math.max(0, Math.floor(idleSlots));
    let moreWork = true;
    while (slots > 0) {
      const decision = this.nextJob(working, gate, views);
      if (decision === null) {
        moreWork = false;
        break;
      }
      working.apply(decision);
      this.track(views, working, decision);
      decisions.push(decision);
      slots--;
    }
    if (moreWork) moreWork = this.nextJob(working, gate, views) !== null;

    for (const stop of this.stops(working, gate, views)) {
      working.apply(stop);
      decisions.push(stop);
    }
    if (!moreWork && !working.hasActiveRungs()) {
      const rungs = working.trials.reduce((sum, trial) => sum + trial.rungs.length, 0);
      const planComplete = rungs >= this.plan.rungs;
      decisions.push({ kind: 'complete-study', reason: gate.completionReason(working, planComplete) });
    }
    return decisions;
  }

  /** Started bracket instances, in run order. */
  private views(working: WorkingState): BracketView[] {
    const groups = new Map<number, TrialRecord[]>();
    for (const trial of working.trials) {
      const seq = this.seqOf(trial);
      if (seq === null) continue;
      const group = groups.get(seq) ?? [];
      group.push(trial);
      groups.set(seq, group);
    }
    return [...groups.entries()]
      .sort(([a], [b]) => a - b)
      .map(([seq, trials]) => new BracketView(this.sequence[seq]!, trials));
  }

  private seqOf(trial: { bracket: number | null; iteration: number | null }): number | null {
    if (trial.bracket === null || trial.iteration === null) return null;
    return this.seqByKey.get(`${trial.iteration}:${trial.bracket}`) ?? null;
  }

  /** Keeps the views in step with a decision just applied to the working state. */
  private track(views: BracketView[], working: WorkingState, decision: Decision): void {
    if (decision.kind === 'create-trial') {
      const record = working.trials[working.trials.length - 1]!;
      const seq = this.seqOf(record)!;
      const view = views.find((v) => v.instance.seq === seq);
      if (view) view.add(0, record);
      else views.push(new BracketView(this.sequence[seq]!, [record]));
    } else if (decision.kind === 'promote') {
      const trial = working.byId.get(decision.trialId)!;
      const seq = this.seqOf(trial);
      views.find((v) => v.instance.seq === seq)?.add(decision.rung, trial);
    }
  }

  /** KerasTuner's `populate_space`: fill open brackets first, then promote, then open the next bracket. */
  private nextJob(working: WorkingState, gate: Gate, views: BracketView[]): Decision | null {
    const canPromote = gate.canPromote(working);
    for (const view of views) {
      if (view.finished(gate.canCreate(working), canPromote)) continue;
      if (view.rounds[0]!.length < view.size(0)) {
        const created = this.create(working, gate, view.instance);
        if (created) return created;
      }
      if (!canPromote) continue;
      for (let round = 1; round < view.rounds.length; round++) {
        if (!view.closed(round - 1, gate.canCreate(working), canPromote) || !view.allTerminal(round - 1)) break;
        const next = view.chosenFor(round).find((trial) => rungOf(trial, round) === undefined);
        if (next) {
          const plan = view.instance.bracket.rounds[round]!;
          return { kind: 'promote', trialId: next.id, rung: round, fromEpoch: plan.fromEpoch, toEpoch: plan.toEpoch };
        }
      }
    }
    const lastSeq = views.length > 0 ? views[views.length - 1]!.instance.seq : -1;
    const upcoming = this.sequence[lastSeq + 1];
    return upcoming ? this.create(working, gate, upcoming) : null;
  }

  private create(working: WorkingState, gate: Gate, instance: BracketInstance): Decision | null {
    const first = instance.bracket.rounds[0]!;
    return this.proposer.propose(working, gate, {
      bracket: instance.bracket.bracket,
      iteration: instance.iteration,
      firstRung: { rung: 0, fromEpoch: first.fromEpoch, toEpoch: first.toEpoch },
    });
  }

  /** Trials that can no longer train: finished their bracket, lost their round, failed, or ran out of budget. */
  private stops(working: WorkingState, gate: Gate, views: BracketView[]): Decision[] {
    const stops: Decision[] = [];
    const canPromote = gate.canPromote(working);
    const canCreate = gate.canCreate(working);
    for (const view of views) {
      for (const trial of view.rounds[0]!) {
        if (TERMINAL_TRIAL_STATUSES.has(trial.status)) continue;
        const rung = lastRung(trial);
        if (!rung || isActiveRung(rung)) continue;
        let reason: StopReason | null = null;
        if (rung.status !== 'completed') reason = 'failed';
        else if (rung.rung >= view.rounds.length - 1) reason = 'finished';
        else if (view.closed(rung.rung + 1, canCreate, canPromote)) reason = canPromote ? 'lost' : 'budget';
        if (reason) stops.push({ kind: 'stop-trial', trialId: trial.id, reason });
      }
    }
    return stops;
  }
}
