import { and, inArray, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { epochMetrics, trialRungs, trials, type TrialStatusName } from '../db/schema.js';
import { trialRankOrder } from './ranking.js';

/** Progress of one study: what both the API summary and the dashboard overview are made of. */
export interface StudyCounts {
  trialsByStatus: Partial<Record<TrialStatusName, number>>;
  trialsTotal: number;
  /** Trials with a rung being trained right now. */
  trialsTraining: number;
  rungsByStatus: Partial<Record<string, number>>;
  rungsTotal: number;
  epochs: number;
  /** The top of the leaderboard, when a trial has a score. */
  best: typeof trials.$inferSelect | null;
}

const emptyCounts = (): StudyCounts => ({
  trialsByStatus: {},
  trialsTotal: 0,
  trialsTraining: 0,
  rungsByStatus: {},
  rungsTotal: 0,
  epochs: 0,
  best: null,
});

/**
 * Counts and best trial of many studies in five grouped queries whatever their number or
 * size (no query per study or per row).
 */
export async function studyCounts(db: DbOrTx, studyIds: string[]): Promise<Map<string, StudyCounts>> {
  const out = new Map(studyIds.map((id) => [id, emptyCounts()]));
  if (studyIds.length === 0) return out;
  const [trialRows, trainingRows, rungRows, epochRows, bestRows] = await Promise.all([
    db
      .select({ studyId: trials.studyId, status: trials.status, n: sql<number>`count(*)::int` })
      .from(trials)
      .where(inArray(trials.studyId, studyIds))
      .groupBy(trials.studyId, trials.status),
    db
      .select({ studyId: trialRungs.studyId, n: sql<number>`count(distinct ${trialRungs.trialId})::int` })
      .from(trialRungs)
      .where(and(inArray(trialRungs.studyId, studyIds), sql`${trialRungs.status} = 'running'`))
      .groupBy(trialRungs.studyId),
    db
      .select({ studyId: trialRungs.studyId, status: trialRungs.status, n: sql<number>`count(*)::int` })
      .from(trialRungs)
      .where(inArray(trialRungs.studyId, studyIds))
      .groupBy(trialRungs.studyId, trialRungs.status),
    db
      .select({ studyId: epochMetrics.studyId, n: sql<number>`count(*)::int` })
      .from(epochMetrics)
      .where(inArray(epochMetrics.studyId, studyIds))
      .groupBy(epochMetrics.studyId),
    bestTrials(db, studyIds),
  ]);
  for (const r of trialRows) {
    const c = out.get(r.studyId)!;
    c.trialsByStatus[r.status] = r.n;
    c.trialsTotal += r.n;
  }
  for (const r of trainingRows) out.get(r.studyId)!.trialsTraining = r.n;
  for (const r of rungRows) {
    const c = out.get(r.studyId)!;
    c.rungsByStatus[r.status] = r.n;
    c.rungsTotal += r.n;
  }
  for (const r of epochRows) out.get(r.studyId)!.epochs = r.n;
  for (const r of bestRows) out.get(r.studyId)!.best = r;
  return out;
}

/** The top of each study's leaderboard: one index probe per study (trials_study_rank_idx). */
async function bestTrials(db: DbOrTx, studyIds: string[]): Promise<(typeof trials.$inferSelect)[]> {
  const ids = sql.join(
    studyIds.map((id) => sql`${id}`),
    sql`, `,
  );
  const { rows } = await db.execute<{ id: string }>(sql`
    SELECT best.id FROM unnest(ARRAY[${ids}]::text[]) AS s(study_id)
    CROSS JOIN LATERAL (
      SELECT ${trials.id} FROM ${trials}
       WHERE ${trials.studyId} = s.study_id AND ${trials.score} IS NOT NULL
       ORDER BY ${sql.join(trialRankOrder(), sql`, `)} LIMIT 1
    ) AS best`);
  if (rows.length === 0) return [];
  return db
    .select()
    .from(trials)
    .where(
      inArray(
        trials.id,
        rows.map((r) => r.id),
      ),
    );
}
