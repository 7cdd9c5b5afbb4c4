import { asc, eq, inArray, and, sql } from 'drizzle-orm';
import { NotFoundError } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { studies, trialRungs, trials } from '../db/schema.js';
import { analyseStudy, type StudyAnalysis } from '../study/analysis.js';
import { storedObjective } from '../study/objective.js';
import { parseSearchSpace } from '../study/search-space.js';

/**
 * The analysis of a study (study/analysis.ts) read from Postgres. Results are ordered by their
 * recording sequence number; the answer is cached per study and recomputed only when a result
 * was recorded or a trial created since (two indexed aggregates decide), so a dashboard that
 * polls on every live update costs one cheap query while nothing changed.
 */

const cache = new Map<string, { key: string; analysis: StudyAnalysis }>();
const CACHE_LIMIT = 64;

export async function studyAnalysis(db: DbOrTx, studyId: string): Promise<StudyAnalysis> {
  const [study] = await db.select({ config: studies.config }).from(studies).where(eq(studies.id, studyId));
  if (!study) throw new NotFoundError(`no study ${studyId}`, 'list studies with GET /api/studies');
  const [version] = await db
    .select({
      seq: sql<string | null>`max(${trialRungs.resultSeq})`,
      rungs: sql<number>`count(*)::int`,
      trials: sql<number>`count(distinct ${trialRungs.trialId})::int`,
    })
    .from(trialRungs)
    .where(eq(trialRungs.studyId, studyId));
  const key = `${version?.seq ?? 0}:${version?.rungs ?? 0}:${version?.trials ?? 0}`;
  const hit = cache.get(studyId);
  if (hit?.key === key) return hit.analysis;

  const config = study.config as { searchSpace?: unknown };
  const { space } = parseSearchSpace(config.searchSpace);
  const { direction } = storedObjective(study.config);
  const trialRows = await db
    .select({ index: trials.index, hyperparameters: trials.hyperparameters, id: trials.id })
    .from(trials)
    .where(eq(trials.studyId, studyId));
  const resultRows = await db
    .select({
      trialId: trialRungs.trialId,
      fromEpoch: trialRungs.fromEpoch,
      toEpoch: trialRungs.toEpoch,
      score: trialRungs.score,
      status: trialRungs.status,
    })
    .from(trialRungs)
    .where(and(eq(trialRungs.studyId, studyId), inArray(trialRungs.status, ['completed', 'failed'])))
    .orderBy(asc(trialRungs.resultSeq), asc(trialRungs.id));
  const indexOf = new Map(trialRows.map((t) => [t.id, t.index]));
  const analysis = analyseStudy({
    space,
    direction,
    trials: trialRows,
    results: resultRows.map((r) => ({
      trialIndex: indexOf.get(r.trialId) ?? -1,
      fromEpoch: r.fromEpoch,
      toEpoch: r.toEpoch,
      score: r.status === 'completed' ? r.score : null,
    })),
  });
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(studyId, { key, analysis });
  return analysis;
}
