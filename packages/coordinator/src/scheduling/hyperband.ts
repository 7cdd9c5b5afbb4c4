import type { Budget, HyperbandConfig } from '../study/config.js';
import { compareRankable } from '../study/objective.js';
import type { SearchSpace } from '../study/search-space.js';
import type { Sampler } from './sampler.js';
import {
  hyperbandBrackets,
  hyperbandPlan,
  type HyperbandBracket,
  type HyperbandPlan,
} from './hyperband-plan.js';
import { settledRung, StudyMirror, type TrialIndex } from './study-mirror.js';
import type { Decision, Scheduler, StopReason, StudyState, TrialRecord } from './types.js';
import { byRank, Gate, isEligibleRung, isTerminalRung, rungOf, TrialProposer } from './working-state.js';

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
 *
 * Cost per call: O(changed trials + open brackets · bracket size), independent of how many
 * brackets already finished. `BracketIndex` groups the trials by bracket instance, rebuilds the
 * view of a bracket only when one of its trials changed, and keeps the started brackets that are
 * not finished; a bracket finished with every gate open is finished under any gate (closing a
 * gate only closes rounds sooner), so skipping it never changes a decision.
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
  /** Ranking per round (a view is rebuilt whenever one of its trials changes). */
  private readonly rankedCache = new Map<number, TrialRecord[]>();

  constructor(
    readonly instance: BracketInstance,
    trials: TrialRecord[],
  ) {
    this.rounds = instance.bracket.rounds.map(() => []);
    for (const trial of trials) for (const rung of trial.rungs) this.rounds[rung.rung]?.push(trial);
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
      const entries = this.rounds[round]!.map((trial) => ({ trial, rung: rungOf(trial, round)! })).filter(
        (entry) => isEligibleRung(entry.rung),
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
  /** Proposes new configurations (default: random search). */
  sampler?: Sampler;
}

export class HyperbandScheduler implements Scheduler {
  readonly plan: HyperbandPlan;
  private readonly sequence: BracketInstance[];
  private readonly seqByKey = new Map<string, number>();
  private readonly proposer: TrialProposer;
  private readonly index: BracketIndex;
  private readonly mirror: StudyMirror;

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
    this.proposer = new TrialProposer(options.space, options.seed, options.sampler);
    this.index = new BracketIndex(this.sequence, (trial) => this.seqOf(trial));
    this.mirror = new StudyMirror(this.index);
  }

  plannedRungs(): number {
    return this.plan.rungs;
  }

  plannedTrials(): number {
    return this.plan.trials;
  }

  decide(state: StudyState, idleSlots: number): Decision[] {
    const mirror = this.mirror;
    mirror.sync(state);
    const gate = Gate.of(this.options.budget);
    const decisions: Decision[] = [];
    let slots = Math.max(0, Math.floor(idleSlots));
    let moreWork = true;
    while (slots > 0) {
      const decision = this.nextJob(gate);
      if (decision === null) {
        moreWork = false;
        break;
      }
      mirror.apply(decision);
      decisions.push(decision);
      slots--;
    }
    if (moreWork) moreWork = this.nextJob(gate) !== null;

    // Stops come last and nothing after them reads trial statuses, so they are not applied to the
    // mirror (applying one re-ranks nothing but costs index updates); the next sync sees them in the state.
    decisions.push(...this.stops(gate));
    if (!moreWork && mirror.activeRungs === 0) {
      const planComplete = mirror.totalRungs >= this.plan.rungs;
      decisions.push({ kind: 'complete-study', reason: gate.completionReason(mirror, planComplete) });
    }
    return decisions;
  }

  private seqOf(trial: { bracket: number | null; iteration: number | null }): number | null {
    if (trial.bracket === null || trial.iteration === null) return null;
    return this.seqByKey.get(`${trial.iteration}:${trial.bracket}`) ?? null;
  }

  /** KerasTuner's `populate_space`: fill open brackets first, then promote, then open the next bracket. */
  private nextJob(gate: Gate): Decision | null {
    const working = this.mirror;
    const canPromote = gate.canPromote(working);
    for (const view of this.index.openViews()) {
      if (view.finished(gate.canCreate(working), canPromote)) continue;
      if (view.rounds[0]!.length < view.size(0)) {
        const created = this.create(gate, view.instance);
        if (created) return created;
      }
      if (!canPromote) continue;
      for (let round = 1; round < view.rounds.length; round++) {
        if (!view.closed(round - 1, gate.canCreate(working), canPromote) || !view.allTerminal(round - 1))
          break;
        const next = view.chosenFor(round).find((trial) => rungOf(trial, round) === undefined);
        if (next) {
          const plan = view.instance.bracket.rounds[round]!;
          return {
            kind: 'promote',
            trialId: next.id,
            rung: round,
            fromEpoch: plan.fromEpoch,
            toEpoch: plan.toEpoch,
          };
        }
      }
    }
    const upcoming = this.sequence[this.index.lastStarted() + 1];
    return upcoming ? this.create(gate, upcoming) : null;
  }

  private create(gate: Gate, instance: BracketInstance): Decision | null {
    const first = instance.bracket.rounds[0]!;
    return this.proposer.propose(this.mirror, gate, {
      bracket: instance.bracket.bracket,
      iteration: instance.iteration,
      firstRung: { rung: 0, fromEpoch: first.fromEpoch, toEpoch: first.toEpoch },
    });
  }

  /** Trials that can no longer train: finished their bracket, lost their round, failed, or ran out of budget. */
  private stops(gate: Gate): Decision[] {
    const stops: Decision[] = [];
    const canPromote = gate.canPromote(this.mirror);
    const canCreate = gate.canCreate(this.mirror);
    // Bracket by bracket in run order, trials in creation order: the order of the full scan.
    const candidates = [...this.index.settled.values()].map((trial) => ({ trial, seq: this.seqOf(trial)! }));
    candidates.sort((a, b) => a.seq - b.seq || a.trial.index - b.trial.index);
    for (const { trial, seq } of candidates) {
      const view = this.index.view(seq);
      const rung = settledRung(trial)!;
      let reason: StopReason | null = null;
      if (rung.status !== 'completed') reason = 'failed';
      else if (rung.rung >= view.rounds.length - 1) reason = 'finished';
      else if (view.closed(rung.rung + 1, canCreate, canPromote)) reason = canPromote ? 'lost' : 'budget';
      if (reason) stops.push({ kind: 'stop-trial', trialId: trial.id, reason });
    }
    return stops;
  }
}

/**
 * The trials of every started bracket instance, kept in step with the mirror. A bracket's
 * `BracketView` is rebuilt lazily after one of its trials changed; `openViews` lists, in run
 * order, the started brackets that are not finished even with every gate open.
 */
class BracketIndex implements TrialIndex {
  /** Trials that may have to stop: open, last rung ended, and in a bracket's first round. */
  readonly settled = new Map<string, TrialRecord>();
  private readonly members = new Map<number, Map<string, TrialRecord>>();
  private readonly views = new Map<number, BracketView>();
  /** Sorted seqs of started brackets, and of those not finished with every gate open. */
  private started: number[] = [];
  private open: number[] = [];
  private readonly stale = new Set<number>();

  constructor(
    private readonly sequence: readonly BracketInstance[],
    private readonly seqOf: (trial: TrialRecord) => number | null,
  ) {}

  add(trial: TrialRecord): void {
    const seq = this.seqOf(trial);
    if (seq === null) return;
    let group = this.members.get(seq);
    if (!group) {
      group = new Map();
      this.members.set(seq, group);
      insertSorted(this.started, seq);
    }
    group.set(trial.id, trial);
    this.changed(seq);
    if (settledRung(trial) && rungOf(trial, 0) !== undefined) this.settled.set(trial.id, trial);
  }

  remove(trial: TrialRecord): void {
    const seq = this.seqOf(trial);
    if (seq === null) return;
    const group = this.members.get(seq);
    if (group?.get(trial.id) !== trial) return;
    group.delete(trial.id);
    if (group.size === 0) {
      this.members.delete(seq);
      removeSorted(this.started, seq);
    }
    this.changed(seq);
    if (this.settled.get(trial.id) === trial) this.settled.delete(trial.id);
  }

  clear(): void {
    this.settled.clear();
    this.members.clear();
    this.views.clear();
    this.started = [];
    this.open = [];
    this.stale.clear();
  }

  /** The run-order position of the last started bracket (-1 before the first). */
  lastStarted(): number {
    return this.started.length > 0 ? this.started[this.started.length - 1]! : -1;
  }

  view(seq: number): BracketView {
    let view = this.views.get(seq);
    if (!view) {
      const trials = [...(this.members.get(seq)?.values() ?? [])].sort((a, b) => a.index - b.index);
      view = new BracketView(this.sequence[seq]!, trials);
      this.views.set(seq, view);
    }
    return view;
  }

  openViews(): BracketView[] {
    for (const seq of this.stale) {
      const isOpen = this.members.has(seq) && !this.view(seq).finished(true, true);
      if (isOpen) insertSorted(this.open, seq);
      else removeSorted(this.open, seq);
    }
    this.stale.clear();
    return this.open.map((seq) => this.view(seq));
  }

  private changed(seq: number): void {
    this.views.delete(seq);
    this.stale.add(seq);
  }
}

function insertSorted(list: number[], value: number): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (list[mid]! < value) low = mid + 1;
    else high = mid;
  }
  if (list[low] !== value) list.splice(low, 0, value);
}

function removeSorted(list: number[], value: number): void {
  const at = list.indexOf(value);
  if (at >= 0) list.splice(at, 1);
}
