import type { AshaConfig, Budget, HyperbandConfig, RandomConfig, StudyConfig } from '../src/study/config.js';
import { compareRankable } from '../src/study/objective.js';
import type { SearchSpace } from '../src/study/search-space.js';
import {
  hyperbandBrackets,
  hyperbandPlan,
  type HyperbandBracket,
  type HyperbandPlan,
} from '../src/scheduling/hyperband-plan.js';
import type {
  Decision,
  RungRecord,
  Scheduler,
  StopReason,
  StudyState,
  TrialRecord,
} from '../src/scheduling/types.js';
import {
  Gate,
  isActiveRung,
  isEligibleRung,
  isSortedBy,
  isTerminalRung,
  lastRung,
  rungOf,
  TERMINAL_TRIAL_STATUSES,
  TrialProposer,
} from '../src/scheduling/working-state.js';

/**
 * REFERENCE ONLY (tests and bench/scheduler-sim.ts): the schedulers as they were before the
 * incremental rewrite, kept verbatim (only renamed, plus a `trialCount` getter for the shared
 * Gate, whose logic did not change). Every `decide` copies and rescans the whole StudyState,
 * so they are obviously a deterministic function of (config, state) and O(trials) per call.
 * The equivalence test runs simulations with these and with the production schedulers and
 * requires identical decision sequences. Do not use in production code.
 */

// ------------------------------------------------------------------ the full-scan working copy

/** Provisional id of a trial created during this `decide` call (the coordinator assigns the real one). */
const PENDING_PREFIX = '\u0000pending:';

class WorkingState {
  readonly trials: TrialRecord[];
  readonly byId = new Map<string, TrialRecord>();
  readonly triedHashes = new Set<string>();
  readonly elapsedMinutes: number;
  nextIndex: number;

  get trialCount(): number {
    return this.trials.length;
  }

  constructor(state: StudyState) {
    // Shallow copies: rung arrays are shared with the caller and replaced (never mutated) on change.
    this.trials = state.trials.map((trial) => ({
      ...trial,
      rungs: isSortedBy(trial.rungs, (r) => r.rung)
        ? trial.rungs
        : [...trial.rungs].sort((a, b) => a.rung - b.rung),
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
          {
            rung: decision.rung,
            fromEpoch: decision.fromEpoch,
            toEpoch: decision.toEpoch,
            status: 'queued',
            score: null,
            meetsConstraints: false,
          },
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

/** Best first by (constraints met, score), ties broken by creation order so ranking is deterministic. */
function byRank<T extends { trial: TrialRecord; rung: RungRecord }>(
  entries: T[],
  compare: (a: RungRecord, b: RungRecord) => number,
): T[] {
  return [...entries].sort((a, b) => compare(a.rung, b.rung) || a.trial.index - b.trial.index);
}

// ------------------------------------------------------------------ RankCache

interface RankedResult {
  trialId: string;
  index: number;
  score: number | null;
  meetsConstraints: boolean;
}

function compare(a: RankedResult, b: RankedResult): number {
  return compareRankable(a, b) || a.index - b.index;
}

class RankCache {
  private sorted: RankedResult[] = [];
  private byId = new Map<string, RankedResult>();

  /** `results` must hold every eligible result of the level; returns them best first. */
  update(results: readonly RankedResult[]): readonly RankedResult[] {
    const additions: RankedResult[] = [];
    let kept = 0;
    let valid = true;
    for (const result of results) {
      const cached = this.byId.get(result.trialId);
      if (!cached) additions.push(result);
      else if (
        cached.score !== result.score ||
        cached.meetsConstraints !== result.meetsConstraints ||
        cached.index !== result.index
      ) {
        valid = false;
        break;
      } else kept++;
    }
    if (!valid || kept !== this.sorted.length || additions.length > this.sorted.length) {
      this.sorted = [...results].sort(compare);
      this.byId = new Map(this.sorted.map((r) => [r.trialId, r]));
      return this.sorted;
    }
    for (const result of additions) {
      let low = 0;
      let high = this.sorted.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (compare(this.sorted[mid]!, result) <= 0) low = mid + 1;
        else high = mid;
      }
      this.sorted.splice(low, 0, result);
      this.byId.set(result.trialId, result);
    }
    return this.sorted;
  }
}

// ------------------------------------------------------------------ ASHA

/**
 * Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
 * Tuning", MLSys 2020, Algorithm 2). Rung k trains to minEpochs·factor^k epochs (≤ maxEpochs).
 * Whenever a slot is free: promote a trial that is in the top 1/factor of the finished results of
 * its rung and not promoted yet, looking at the highest rung first; otherwise start a new trial
 * (until maxTrials). Nothing ever waits for a rung to fill, so workers never idle at a barrier.
 */

/** Cumulative epochs of each ASHA rung. */
function ashaRungEpochsRef(minEpochs: number, maxEpochs: number, factor: number): number[] {
  const epochs: number[] = [];
  for (let e = minEpochs; e <= maxEpochs; e *= factor) epochs.push(e);
  return epochs;
}

export class ReferenceAshaScheduler implements Scheduler {
  readonly rungEpochs: number[];
  private readonly proposer: TrialProposer;
  /** Sorted finished results per rung, reused across calls (see RankCache: never changes decisions). */
  private readonly rankCaches: RankCache[];

  constructor(
    private readonly options: { config: AshaConfig; space: SearchSpace; seed: number; budget: Budget },
  ) {
    const { minEpochs, maxEpochs, factor } = options.config;
    this.rungEpochs = ashaRungEpochsRef(minEpochs, maxEpochs, factor);
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
          eligible[rung.rung]!.push({
            trialId: trial.id,
            index: trial.index,
            score: rung.score,
            meetsConstraints: rung.meetsConstraints,
          });
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

// ------------------------------------------------------------------ Hyperband

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

export class ReferenceHyperbandScheduler implements Scheduler {
  readonly plan: HyperbandPlan;
  private readonly sequence: BracketInstance[];
  private readonly seqByKey = new Map<string, number>();
  private readonly proposer: TrialProposer;

  constructor(
    private readonly options: { config: HyperbandConfig; space: SearchSpace; seed: number; budget: Budget },
  ) {
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

// ------------------------------------------------------------------ random

export class ReferenceRandomScheduler implements Scheduler {
  private readonly proposer: TrialProposer;

  constructor(
    private readonly options: { config: RandomConfig; space: SearchSpace; seed: number; budget: Budget },
  ) {
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
    const placement = {
      bracket: null,
      iteration: null,
      firstRung: { rung: 0, fromEpoch: 0, toEpoch: this.options.config.epochs },
    };
    for (let slot = 0; slot < Math.floor(idleSlots); slot++) {
      const decision = this.proposer.propose(working, gate, placement);
      if (decision === null) break;
      working.apply(decision);
      decisions.push(decision);
    }
    for (const trial of working.trials) {
      const rung = lastRung(trial);
      if (TERMINAL_TRIAL_STATUSES.has(trial.status) || !rung || isActiveRung(rung)) continue;
      const stop: Decision = {
        kind: 'stop-trial',
        trialId: trial.id,
        reason: rung.status === 'completed' ? 'finished' : 'failed',
      };
      working.apply(stop);
      decisions.push(stop);
    }
    // Probe whether another trial could still be created (without creating it).
    const moreWork = gate.canCreate(working) && this.proposer.propose(working, gate, placement) !== null;
    if (!moreWork && !working.hasActiveRungs()) {
      decisions.push({
        kind: 'complete-study',
        reason: gate.completionReason(working, working.trials.length >= this.options.config.maxTrials),
      });
    }
    return decisions;
  }
}

/** The reference scheduler a study config asks for (same switch as createScheduler). */
export function createReferenceScheduler(
  config: Pick<StudyConfig, 'scheduler' | 'searchSpace' | 'seed' | 'budget'>,
): Scheduler {
  const common = { space: config.searchSpace, seed: config.seed, budget: config.budget };
  switch (config.scheduler.type) {
    case 'hyperband':
      return new ReferenceHyperbandScheduler({ ...common, config: config.scheduler });
    case 'asha':
      return new ReferenceAshaScheduler({ ...common, config: config.scheduler });
    case 'random':
      return new ReferenceRandomScheduler({ ...common, config: config.scheduler });
  }
}
