import { ChangeJournal } from './change-journal.js';
import { queuedRung } from './rung-record.js';
import type { Decision, RungRecord, Scheduler, StudyState, TrialRecord } from './types.js';
import { isActiveRung, lastRung, TERMINAL_TRIAL_STATUSES } from './working-state.js';

/**
 * An in-memory coordinator for tests and benchmarks: applies a scheduler's decisions to a
 * `StudyState`, runs rungs on simulated workers in virtual time with synthetic scores, and checks
 * the invariants the real coordinator relies on (no duplicate hash or job id, promotions warm-start
 * from the parent's last epoch, no decision about an unknown trial).
 */

export interface SimulatedRungOutcome {
  /** Objective oriented so that larger is better; null marks a failed rung. */
  score: number | null;
  meetsConstraints?: boolean;
}

export interface SimulationOptions {
  scheduler: Scheduler;
  workers: number;
  /** Extra rungs kept queued beyond free workers (the coordinator's prefetch). Default 0. */
  prefetch?: number;
  /** Result of a rung; default: a deterministic learning curve per hyperparameter hash. */
  outcome?: (trial: TrialRecord, rung: RungRecord) => SimulatedRungOutcome;
  /** Virtual minutes one epoch of this trial takes. Default 1. */
  epochMinutes?: (trial: TrialRecord) => number;
  /** Safety stop for a scheduler that never completes. Default 1,000,000 events. */
  maxEvents?: number;
  /** Called after every `decide` with what was asked and answered. */
  onDecide?: (call: DecideCall) => void;
  /**
   * Hand the scheduler a change journal (`StudyState.changes`), as a caching coordinator would.
   * Default true; false makes the scheduler diff the whole state on every call.
   */
  trackChanges?: boolean;
}

export interface DecideCall {
  /** Virtual minutes since the start. */
  time: number;
  idleSlots: number;
  decisions: Decision[];
  /** Trials and active (queued + running) rungs before the decisions were applied. */
  trialsBefore: number;
  activeRungsBefore: number;
  /** The live state right after the decisions were applied (read it inside the callback). */
  state: StudyState;
}

export interface SimulationResult {
  state: StudyState;
  completed: boolean;
  completion: Extract<Decision, { kind: 'complete-study' }> | null;
  trials: number;
  rungs: number;
  failedRungs: number;
  epochs: number;
  decideCalls: number;
  decisions: number;
  makespanMinutes: number;
  /** 1 - busy worker-minutes / (workers × makespan). */
  idleFraction: number;
  /** Milliseconds spent inside `decide` (for benchmarks; never asserted). */
  decideMs: number[];
}

/** Deterministic pseudo-quality in [0, 1) of a hash string. */
function quality(hash: string): number {
  return parseInt(hash.slice(0, 8), 16) / 2 ** 32;
}

export function defaultOutcome(trial: TrialRecord, rung: RungRecord): SimulatedRungOutcome {
  return { score: quality(trial.hpHash) * (1 - Math.exp(-rung.toEpoch / 4)), meetsConstraints: true };
}

export class SimulationInvariantError extends Error {}

/**
 * Applies decisions to a state the way the coordinator does, checking invariants. With
 * `trackChanges`, its state carries a `ChangeJournal`; then whoever mutates a trial of it directly
 * must call `touch(trialId)` (the simulator does).
 */
export class InMemoryStudy {
  readonly state: StudyState = { trials: [], elapsedMinutes: 0 };
  readonly jobIds = new Set<string>();
  private readonly journal: ChangeJournal | null;
  private readonly hashes = new Set<string>();
  private readonly byId = new Map<string, TrialRecord>();
  completion: Extract<Decision, { kind: 'complete-study' }> | null = null;

  constructor(options: { trackChanges?: boolean } = {}) {
    this.journal = options.trackChanges ? new ChangeJournal() : null;
    if (this.journal) this.state.changes = this.journal;
  }

  /** Journals a direct mutation of a trial (a no-op without `trackChanges`). */
  touch(trialId: string): void {
    this.journal?.touch(trialId);
  }

  trial(id: string): TrialRecord | undefined {
    return this.byId.get(id);
  }

  apply(decision: Decision): void {
    const fail = (message: string): never => {
      throw new SimulationInvariantError(`${message}: ${JSON.stringify(decision)}`);
    };
    switch (decision.kind) {
      case 'create-trial': {
        const { trial } = decision;
        if (this.hashes.has(trial.hpHash)) fail('hyperparameter set proposed twice');
        if (trial.index !== this.state.trials.length)
          fail(`trial index ${trial.index} is not the next index ${this.state.trials.length}`);
        if (trial.firstRung.fromEpoch !== 0) fail('a new trial must start from epoch 0');
        const record: TrialRecord = {
          id: `t${trial.index}`,
          index: trial.index,
          bracket: trial.bracket,
          iteration: trial.iteration,
          hyperparameters: trial.hyperparameters,
          hpHash: trial.hpHash,
          status: 'running',
          rungs: [],
        };
        this.hashes.add(trial.hpHash);
        this.state.trials.push(record);
        this.byId.set(record.id, record);
        this.addRung(record, queuedRung(trial.firstRung), fail);
        this.touch(record.id);
        return;
      }
      case 'promote': {
        const trial = this.byId.get(decision.trialId) ?? fail('promotion of an unknown trial');
        const parent = lastRung(trial) ?? fail('promotion of a trial without rungs');
        if (parent.status !== 'completed')
          fail(`promotion of a trial whose rung ${parent.rung} is ${parent.status}`);
        if (TERMINAL_TRIAL_STATUSES.has(trial.status)) fail(`promotion of a ${trial.status} trial`);
        if (decision.rung !== parent.rung + 1)
          fail(`promotion to rung ${decision.rung} after rung ${parent.rung}`);
        if (decision.fromEpoch !== parent.toEpoch)
          fail(`warm start from epoch ${decision.fromEpoch} but the parent rung ended at ${parent.toEpoch}`);
        if (decision.toEpoch <= decision.fromEpoch) fail('a rung must train at least one epoch');
        trial.status = 'running';
        this.addRung(trial, queuedRung(decision), fail);
        this.touch(trial.id);
        return;
      }
      case 'stop-trial': {
        const trial = this.byId.get(decision.trialId) ?? fail('stop of an unknown trial');
        if (TERMINAL_TRIAL_STATUSES.has(trial.status)) fail(`stop of a trial already ${trial.status}`);
        const rung = lastRung(trial);
        if (rung && isActiveRung(rung)) fail('stop of a trial with a rung in flight');
        trial.status =
          decision.reason === 'finished' ? 'completed' : decision.reason === 'failed' ? 'failed' : 'stopped';
        this.touch(trial.id);
        return;
      }
      case 'complete-study':
        if (this.state.trials.some((t) => t.rungs.some(isActiveRung)))
          fail('study completed with rungs in flight');
        this.completion = decision;
        return;
    }
  }

  private addRung(trial: TrialRecord, rung: RungRecord, fail: (message: string) => never): void {
    const jobId = `${trial.id}:${rung.rung}`;
    if (this.jobIds.has(jobId)) fail(`job ${jobId} queued twice`);
    this.jobIds.add(jobId);
    trial.rungs.push(rung);
  }
}

/** Runs a whole study in virtual time. */
export function simulateStudy(options: SimulationOptions): SimulationResult {
  const { scheduler, workers } = options;
  const prefetch = options.prefetch ?? 0;
  const outcome = options.outcome ?? defaultOutcome;
  const epochMinutes = options.epochMinutes ?? (() => 1);
  const maxEvents = options.maxEvents ?? 1_000_000;
  const study = new InMemoryStudy({ trackChanges: options.trackChanges ?? true });
  const running: RunningRung[] = [];
  const queue: QueuedRung[] = [];
  const decideMs: number[] = [];
  let order = 0;
  let time = 0;
  const usage = { busyMinutes: 0 };
  let decideCalls = 0;
  let decisionCount = 0;

  for (let event = 0; event < maxEvents; event++) {
    study.state.elapsedMinutes = time;
    const idleSlots = Math.max(0, workers - running.length + prefetch - queue.length);
    const trialsBefore = study.state.trials.length;
    const activeRungsBefore = running.length + queue.length;
    const started = performance.now();
    const decisions = scheduler.decide(study.state, idleSlots);
    decideMs.push(performance.now() - started);
    decideCalls++;
    decisionCount += decisions.length;
    for (const decision of decisions) {
      study.apply(decision);
      if (decision.kind === 'create-trial' || decision.kind === 'promote') {
        const trial =
          decision.kind === 'create-trial'
            ? study.state.trials[study.state.trials.length - 1]!
            : study.trial(decision.trialId)!;
        queue.push({ trial, rung: lastRung(trial)!, order: order++ });
      }
    }
    options.onDecide?.({ time, idleSlots, decisions, trialsBefore, activeRungsBefore, state: study.state });
    if (study.completion) break;

    startQueued(study, queue, running, workers, { time, epochMinutes, usage });
    if (running.length === 0) {
      throw new SimulationInvariantError(
        'the scheduler left nothing running and did not complete the study (deadlock)',
      );
    }
    time = finishEarliest(study, running, outcome);
  }

  const rungs = study.state.trials.flatMap((trial) => trial.rungs);
  return {
    state: study.state,
    completed: study.completion !== null,
    completion: study.completion,
    trials: study.state.trials.length,
    rungs: rungs.length,
    failedRungs: rungs.filter((r) => r.status === 'failed').length,
    epochs: rungs.reduce((sum, r) => sum + (r.toEpoch - r.fromEpoch), 0),
    decideCalls,
    decisions: decisionCount,
    makespanMinutes: time,
    idleFraction: time > 0 ? 1 - usage.busyMinutes / (workers * time) : 0,
    decideMs,
  };
}

interface QueuedRung {
  trial: TrialRecord;
  rung: RungRecord;
  order: number;
}

interface RunningRung extends QueuedRung {
  endsAt: number;
}

/** Idle workers take queued rungs: the highest rung first (BullMQ priority), then the oldest job. */
function startQueued(
  study: InMemoryStudy,
  queue: QueuedRung[],
  running: RunningRung[],
  workers: number,
  at: { time: number; epochMinutes: (trial: TrialRecord) => number; usage: { busyMinutes: number } },
): void {
  queue.sort((a, b) => b.rung.rung - a.rung.rung || a.order - b.order);
  while (running.length < workers && queue.length > 0) {
    const job = queue.shift()!;
    job.rung.status = 'running';
    study.touch(job.trial.id);
    const minutes = (job.rung.toEpoch - job.rung.fromEpoch) * at.epochMinutes(job.trial);
    running.push({ ...job, endsAt: at.time + minutes });
    at.usage.busyMinutes += minutes;
  }
}

/** Advances to the earliest end of a running rung and records every rung that ends then; returns the new time. */
function finishEarliest(
  study: InMemoryStudy,
  running: RunningRung[],
  outcome: (trial: TrialRecord, rung: RungRecord) => SimulatedRungOutcome,
): number {
  const next = Math.min(...running.map((job) => job.endsAt));
  for (let i = running.length - 1; i >= 0; i--) {
    const job = running[i]!;
    if (job.endsAt > next) continue;
    const result = outcome(job.trial, job.rung);
    job.rung.status = result.score === null ? 'failed' : 'completed';
    job.rung.score = result.score;
    job.rung.meetsConstraints = result.meetsConstraints ?? true;
    study.touch(job.trial.id);
    running.splice(i, 1);
  }
  return next;
}
