import { queuedRung, rungRecord } from './rung-record.js';
import { observationsOf, type Observation } from './sampler.js';
import type { Decision, RungRecord, StudyState, StudyStateChanges, TrialRecord } from './types.js';
import {
  isActiveRung,
  isSortedBy,
  isTerminalRung,
  lastRung,
  TERMINAL_TRIAL_STATUSES,
  type ProposerView,
} from './working-state.js';

/**
 * A scheduler's persistent copy of the study state, kept in step across `decide` calls so that a
 * call costs O(what changed), not O(trials).
 *
 * - `sync(state)` brings the mirror level with the caller's state: through `state.changes` when
 *   the caller journals its mutations, otherwise by one pass comparing each trial with its
 *   snapshot; anything it cannot reconcile (a trial vanished or moved) rebuilds from scratch.
 * - `apply(decision)` lets the decisions of one call see each other (no two proposals share a
 *   hash, a slot is not filled twice), exactly like the full-scan WorkingState did. These overlay
 *   changes are undone or re-checked against the caller's state at the next `sync`, so a decision
 *   the caller did not apply (or applied differently) never lingers.
 *
 * Snapshots are frozen copies: callers mutate their records in place, and the scheduler's index
 * must be able to remove exactly what it added. Every snapshot entering or leaving the mirror is
 * reported to the scheduler's `TrialIndex`.
 */

/** A scheduler's own index over trial snapshots (rank lists, brackets, stop candidates). */
export interface TrialIndex {
  add(trial: TrialRecord): void;
  remove(trial: TrialRecord): void;
  /** The same trial changed (same id and index); defaults to remove + add. */
  replace?(old: TrialRecord, next: TrialRecord): void;
  clear(): void;
}

/** A frozen trial as last seen; `pos` is its position in `state.trials` (-1: proposed in this call). */
interface Snapshot extends TrialRecord {
  readonly pos: number;
}

/** Provisional id of a trial created during this `decide` call (the coordinator assigns the real one). */
const PENDING_PREFIX = '\u0000pending:';

function copyRungs(rungs: readonly RungRecord[]): RungRecord[] {
  const copy = rungs.map(rungRecord);
  return isSortedBy(copy, (r) => r.rung) ? copy : copy.sort((a, b) => a.rung - b.rung);
}

function snapshotOf(trial: TrialRecord, pos: number): Snapshot {
  return {
    id: trial.id,
    index: trial.index,
    bracket: trial.bracket,
    iteration: trial.iteration,
    hyperparameters: trial.hyperparameters,
    hpHash: trial.hpHash,
    status: trial.status,
    rungs: copyRungs(trial.rungs),
    pos,
  };
}

/** Whether `trial` still looks exactly like `snap` in every field a scheduler reads. */
function unchanged(snap: Snapshot, trial: TrialRecord): boolean {
  if (
    snap.status !== trial.status ||
    snap.index !== trial.index ||
    snap.hpHash !== trial.hpHash ||
    snap.bracket !== trial.bracket ||
    snap.iteration !== trial.iteration ||
    snap.rungs.length !== trial.rungs.length
  ) {
    return false;
  }
  for (let i = 0; i < snap.rungs.length; i++) {
    const a = snap.rungs[i]!;
    const b = trial.rungs[i]!;
    if (
      a.rung !== b.rung ||
      a.status !== b.status ||
      a.score !== b.score ||
      a.meetsConstraints !== b.meetsConstraints ||
      a.fromEpoch !== b.fromEpoch ||
      a.toEpoch !== b.toEpoch
    ) {
      return false;
    }
  }
  return true;
}

/** The last rung of a trial that may have to be stopped (still open, nothing in flight), else null. */
export function settledRung(trial: TrialRecord): RungRecord | null {
  if (TERMINAL_TRIAL_STATUSES.has(trial.status)) return null;
  const rung = lastRung(trial);
  return rung && isTerminalRung(rung) ? rung : null;
}

export type SyncMode = 'journal' | 'diff' | 'rebuild';

export class StudyMirror implements ProposerView {
  readonly byId = new Map<string, Snapshot>();
  readonly triedHashes = new Set<string>();
  /** Queued + running rungs, and all rungs, over every trial (including this call's proposals). */
  activeRungs = 0;
  totalRungs = 0;
  elapsedMinutes = 0;
  /** How the last `sync` found the changes (tests and benchmarks read it). */
  lastSync: SyncMode = 'rebuild';

  private readonly hashCounts = new Map<string, number>();
  private slots: Snapshot[] = [];
  private pending: Snapshot[] = [];
  /** Ids of known trials changed by this call's decisions: re-checked at the next sync. */
  private readonly dirty = new Set<string>();
  private maxIndex = -1;
  private nextPendingIndex = 0;
  private source: object | null = null;
  private version = 0;

  constructor(private readonly index: TrialIndex) {}

  get trialCount(): number {
    return this.slots.length + this.pending.length;
  }

  get nextIndex(): number {
    return Math.max(this.maxIndex + 1, this.nextPendingIndex);
  }

  /** Every completed, scored rung of the study, in canonical order (the sampler's history). */
  history(): Observation[] {
    return observationsOf(this.byId.values());
  }

  sync(state: StudyState): void {
    for (const snap of this.pending) this.detach(snap);
    this.pending = [];
    this.nextPendingIndex = 0;
    this.elapsedMinutes = state.elapsedMinutes;
    const changes = state.changes;
    if (changes !== undefined && changes.source === this.source && this.syncJournal(state, changes))
      this.lastSync = 'journal';
    else if (this.syncDiff(state)) this.lastSync = 'diff';
    else {
      this.rebuild(state);
      this.lastSync = 'rebuild';
    }
    this.dirty.clear();
    this.source = changes?.source ?? null;
    this.version = changes?.version ?? 0;
  }

  /** Applies a decision of the current call to the mirror (undone or re-checked at the next sync). */
  apply(decision: Decision): void {
    switch (decision.kind) {
      case 'create-trial': {
        const { trial } = decision;
        const snap: Snapshot = {
          id: `${PENDING_PREFIX}${trial.index}`,
          index: trial.index,
          bracket: trial.bracket,
          iteration: trial.iteration,
          hyperparameters: trial.hyperparameters,
          hpHash: trial.hpHash,
          status: 'running',
          rungs: [queuedRung(trial.firstRung)],
          pos: -1,
        };
        this.pending.push(snap);
        this.attach(snap);
        this.nextPendingIndex = Math.max(this.nextPendingIndex, trial.index + 1);
        return;
      }
      case 'promote': {
        const old = this.byId.get(decision.trialId)!;
        this.replace(old, { ...old, status: 'running', rungs: [...old.rungs, queuedRung(decision)] });
        return;
      }
      case 'stop-trial': {
        const old = this.byId.get(decision.trialId)!;
        this.replace(old, { ...old, status: decision.reason === 'finished' ? 'completed' : 'stopped' });
        return;
      }
      case 'complete-study':
        return;
    }
  }

  // ------------------------------------------------------------------ finding changes

  private syncJournal(state: StudyState, changes: StudyStateChanges): boolean {
    const ids = changes.changedSince(this.version);
    const trials = state.trials;
    if (ids === null || trials.length < this.slots.length) return false;
    for (const list of [this.dirty, ids]) {
      for (const id of list) {
        const snap = this.byId.get(id);
        if (snap === undefined) continue; // a new trial: appended below
        const trial = trials[snap.pos];
        if (trial === undefined || trial.id !== id) return false;
        if (!unchanged(snap, trial) && !this.refresh(snap, trial)) return false;
      }
    }
    for (let pos = this.slots.length; pos < trials.length; pos++)
      if (!this.append(trials[pos]!, pos)) return false;
    return true;
  }

  private syncDiff(state: StudyState): boolean {
    const trials = state.trials;
    if (trials.length < this.slots.length) return false;
    for (let pos = 0; pos < trials.length; pos++) {
      const trial = trials[pos]!;
      const snap = this.slots[pos];
      if (snap === undefined) {
        if (!this.append(trial, pos)) return false;
      } else if (snap.id !== trial.id) {
        return false;
      } else if (!unchanged(snap, trial) && !this.refresh(snap, trial)) {
        return false;
      }
    }
    return true;
  }

  private rebuild(state: StudyState): void {
    this.index.clear();
    this.byId.clear();
    this.triedHashes.clear();
    this.hashCounts.clear();
    this.slots = [];
    this.activeRungs = 0;
    this.totalRungs = 0;
    this.maxIndex = -1;
    state.trials.forEach((trial, pos) => this.append(trial, pos));
  }

  private append(trial: TrialRecord, pos: number): boolean {
    if (this.byId.has(trial.id)) return false;
    const snap = snapshotOf(trial, pos);
    this.slots[pos] = snap;
    this.attach(snap);
    this.maxIndex = Math.max(this.maxIndex, trial.index);
    return true;
  }

  /** A known trial changed; its index (creation order) may not, or the mirror is rebuilt. */
  private refresh(old: Snapshot, trial: TrialRecord): boolean {
    if (old.index !== trial.index) return false;
    this.replace(old, snapshotOf(trial, old.pos));
    return true;
  }

  // ------------------------------------------------------------------ bookkeeping

  private replace(old: Snapshot, next: Snapshot): void {
    if (this.index.replace) {
      this.detach(old, false);
      this.attach(next, false);
      this.index.replace(old, next);
    } else {
      this.detach(old);
      this.attach(next);
    }
    if (next.pos >= 0) {
      this.slots[next.pos] = next;
      this.dirty.add(next.id);
    } else {
      this.pending[this.pending.indexOf(old)] = next;
    }
  }

  private attach(snap: Snapshot, indexed = true): void {
    this.byId.set(snap.id, snap);
    const count = this.hashCounts.get(snap.hpHash) ?? 0;
    this.hashCounts.set(snap.hpHash, count + 1);
    this.triedHashes.add(snap.hpHash);
    for (const rung of snap.rungs) if (isActiveRung(rung)) this.activeRungs++;
    this.totalRungs += snap.rungs.length;
    if (indexed) this.index.add(snap);
  }

  private detach(snap: Snapshot, indexed = true): void {
    if (this.byId.get(snap.id) === snap) this.byId.delete(snap.id);
    const count = (this.hashCounts.get(snap.hpHash) ?? 1) - 1;
    if (count > 0) this.hashCounts.set(snap.hpHash, count);
    else {
      this.hashCounts.delete(snap.hpHash);
      this.triedHashes.delete(snap.hpHash);
    }
    for (const rung of snap.rungs) if (isActiveRung(rung)) this.activeRungs--;
    this.totalRungs -= snap.rungs.length;
    if (indexed) this.index.remove(snap);
  }
}

/** Trials sorted by creation order, as the full-scan schedulers visited them. */
export function byCreation<T extends TrialRecord>(trials: Iterable<T>): T[] {
  return [...trials].sort((a, b) => a.index - b.index);
}
