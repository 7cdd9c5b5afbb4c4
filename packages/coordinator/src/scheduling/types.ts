import type { Hyperparameters } from '@braintune/protocol';

/**
 * The contract between schedulers (pure decision logic, no I/O) and the coordinator
 * (which persists state in Postgres and turns decisions into BullMQ jobs).
 *
 * The coordinator rebuilds a `StudyState` from Postgres, asks the scheduler for
 * decisions, applies them in the same transaction, and enqueues the resulting rungs.
 * A scheduler must therefore be a deterministic function of (config, state): calling
 * it twice on the same state gives the same decisions, which is what makes recovery
 * after a crash safe.
 *
 * Schedulers keep incremental indexes between calls (so a decision costs O(changes · log trials),
 * not O(trials)); those indexes are only a cache of the state and never change a decision. To
 * find what changed they use `StudyState.changes` when the caller provides it, and otherwise
 * compare the state against their last snapshot (one cheap pass, no sorting or copying).
 */

export type RungStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface RungRecord {
  rung: number;
  fromEpoch: number;
  toEpoch: number;
  status: RungStatus;
  /** Objective value of the finished rung, already oriented so that larger is better. */
  score: number | null;
  /** Whether the finished rung met every constraint of the study. */
  meetsConstraints: boolean;
}

export type TrialStatus = 'running' | 'paused' | 'completed' | 'stopped' | 'failed' | 'cancelled';

export interface TrialRecord {
  id: string;
  /** 0-based creation order inside the study. */
  index: number;
  /** Hyperband bracket this trial was sampled for (null for ASHA / random). */
  bracket: number | null;
  /** Hyperband iteration (0-based) the bracket belongs to (null for ASHA / random). */
  iteration: number | null;
  hyperparameters: Hyperparameters;
  /** Hash of the sampled values; no two trials of a study share one. */
  hpHash: string;
  status: TrialStatus;
  rungs: RungRecord[];
}

export interface StudyState {
  trials: TrialRecord[];
  /** Minutes since the study started running, for wall-clock budgets. */
  elapsedMinutes: number;
  /**
   * Optional change feed (see `StudyStateChanges`, implemented by `ChangeJournal`). Without it a
   * scheduler diffs the whole state against its snapshot on every call: same decisions, O(trials).
   */
  changes?: StudyStateChanges;
}

/**
 * Which trials changed, for callers that keep one `StudyState` alive and mutate it in place (the
 * coordinator's state cache, the simulator). The producer's promise: every mutation of a trial
 * (its status, its rungs, any field of a rung) and every appended trial is journaled before the
 * next `decide`; trials are only ever appended, never removed or reordered, while `source` stays
 * the same. Reloading the state from scratch means a new `source`.
 */
export interface StudyStateChanges {
  /** Identity of the journaled state; a scheduler that sees a different one rebuilds its indexes. */
  readonly source: object;
  /** Number of mutations journaled so far; never decreases. */
  readonly version: number;
  /**
   * Ids of the trials created or changed after `version` was current (duplicates allowed), or
   * null when the journal no longer reaches back that far (the scheduler then diffs everything).
   */
  changedSince(version: number): readonly string[] | null;
}

export interface NewTrial {
  index: number;
  bracket: number | null;
  iteration: number | null;
  hyperparameters: Hyperparameters;
  hpHash: string;
  firstRung: { rung: number; fromEpoch: number; toEpoch: number };
}

export type Decision =
  | { kind: 'create-trial'; trial: NewTrial }
  /** Queue the next rung of an existing trial (warm start from its checkpoint at fromEpoch). */
  | { kind: 'promote'; trialId: string; rung: number; fromEpoch: number; toEpoch: number }
  /** The trial will not train further (lost its rung, or its bracket ended). */
  | { kind: 'stop-trial'; trialId: string; reason?: StopReason }
  /** Nothing is running and nothing is left to propose. */
  | { kind: 'complete-study'; reason?: CompletionReason };

/**
 * Why a trial stops. `finished`: it trained its last planned rung (a natural status is
 * 'completed'); `lost`: it was not promoted; `failed`: its last rung failed or was cancelled;
 * `budget`: a study budget (trials, wall clock) ended it.
 */
export type StopReason = 'finished' | 'lost' | 'failed' | 'budget';

/**
 * Why a study completes: `plan` (every rung of the plan ran), `max-trials` and `wall-clock`
 * (a budget ended it early), `space-exhausted` (every distinct hyperparameter set was tried).
 */
export type CompletionReason = 'plan' | 'max-trials' | 'wall-clock' | 'space-exhausted';

export interface Scheduler {
  /**
   * Decisions to apply now. `idleSlots` is how many more rungs the coordinator wants
   * queued (free worker capacity plus a small prefetch); synchronous schedulers may
   * return fewer, asynchronous ones should fill them when they can.
   */
  decide(state: StudyState, idleSlots: number): Decision[];
  /** The full plan when it is known in advance (Hyperband): for status and the dashboard. */
  plannedRungs(): number | null;
  /** Distinct configurations the plan creates, when known in advance (Hyperband (9, 3, 1): 17). */
  plannedTrials?(): number | null;
}
