import { asc, eq } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { trialRungs, trials } from '../db/schema.js';
import { ChangeJournal } from '../scheduling/change-journal.js';
import { rungRecord } from '../scheduling/rung-record.js';
import type { RungRecord, StudyState, TrialRecord } from '../scheduling/types.js';

/** In-memory mirror of one study's trials, kept in step with every committed transaction. */
export interface CachedStudy {
  studyId: string;
  trials: TrialRecord[];
  byId: Map<string, TrialRecord>;
  /** Job ids of rungs that are queued or running. */
  inflight: Set<string>;
  /** Largest trial index so far (new trials continue from here). */
  nextIndex: number;
  /**
   * Ids of the trials changed in place, in order: the scheduler re-reads only those instead of
   * comparing all of a 10,000-trial study after every batch. Whoever mutates a cached trial
   * calls `touch`; a missing touch would leave the scheduler a stale view, so every mutation
   * site goes through the helpers of this package (decisions, recorder, cancellation).
   */
  journal: ChangeJournal;
}

/** Notes that a cached trial changed in place (see CachedStudy.journal). */
export function touch(cached: CachedStudy, trialId: string): void {
  cached.journal.touch(trialId);
}

/**
 * Rebuilding StudyState from Postgres after every event costs O(trials) queries; the
 * coordinator is the only writer, so it loads each study once and then updates the cache
 * alongside its own transactions. Any failed transaction drops the study's entry, so the
 * next event reloads the truth from Postgres.
 */
export class StudyStateCache {
  private readonly studies = new Map<string, CachedStudy>();

  async get(db: DbOrTx, studyId: string): Promise<CachedStudy> {
    const hit = this.studies.get(studyId);
    if (hit) return hit;
    const loaded = await loadStudy(db, studyId);
    this.studies.set(studyId, loaded);
    return loaded;
  }

  invalidate(studyId: string): void {
    this.studies.delete(studyId);
  }

  clear(): void {
    this.studies.clear();
  }
}

export function toStudyState(cached: CachedStudy, elapsedMinutes: number): StudyState {
  return { trials: cached.trials, elapsedMinutes, changes: cached.journal };
}

export async function loadStudy(db: DbOrTx, studyId: string): Promise<CachedStudy> {
  const trialRows = await db
    .select()
    .from(trials)
    .where(eq(trials.studyId, studyId))
    .orderBy(asc(trials.index));
  const rungRows = await db
    .select()
    .from(trialRungs)
    .where(eq(trialRungs.studyId, studyId))
    .orderBy(asc(trialRungs.trialId), asc(trialRungs.rung));
  const rungsByTrial = new Map<string, RungRecord[]>();
  const inflight = new Set<string>();
  for (const r of rungRows) {
    const list = rungsByTrial.get(r.trialId) ?? [];
    list.push(rungRecord(r));
    rungsByTrial.set(r.trialId, list);
    if (r.status === 'queued' || r.status === 'running') inflight.add(r.jobId);
  }
  const records: TrialRecord[] = trialRows.map((t) => ({
    id: t.id,
    index: t.index,
    bracket: t.bracket,
    iteration: t.iteration,
    hyperparameters: t.hyperparameters,
    hpHash: t.hpHash,
    status: t.status,
    rungs: rungsByTrial.get(t.id) ?? [],
  }));
  return {
    studyId,
    trials: records,
    byId: new Map(records.map((t) => [t.id, t])),
    inflight,
    nextIndex: records.reduce((m, t) => Math.max(m, t.index + 1), 0),
    journal: new ChangeJournal(),
  };
}
