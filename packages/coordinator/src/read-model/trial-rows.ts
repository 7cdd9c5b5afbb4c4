import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { z } from 'zod';
import type { TrialRowSchema } from '../api/schemas.js';
import type { DbOrTx } from '../db/client.js';
import { evaluations, trialRungs, trials } from '../db/schema.js';
import type { Page } from './page.js';
import { trialRankOrder, trialRankSql } from './ranking.js';
import { studyRow } from './study-summary.js';

export type TrialRow = z.infer<typeof TrialRowSchema>;
type TrialRecord = typeof trials.$inferSelect;
type RungRecord = typeof trialRungs.$inferSelect;
type EvaluationReport = (typeof evaluations.$inferSelect)['report'];

/**
 * One page of a study's trials, ranked by the database: `rank` is the trial's place in the
 * leaderboard (null while it has no score) and `sort=objective` pages in that order.
 * Rungs and evaluations are fetched for the page's trials only and joined through maps, so
 * a page costs time linear in its size whatever the study's.
 */
export async function listTrials(
  db: DbOrTx,
  studyId: string,
  sort: 'objective' | 'index' = 'index',
  page: Page = { limit: 1000, offset: 0 },
): Promise<{ rows: TrialRow[]; total: number }> {
  await studyRow(db, studyId, 'list studies with GET /api/studies');
  const [[{ total } = { total: 0 }], ranked] = await Promise.all([
    db
      .select({ total: sql<number>`count(*)::int` })
      .from(trials)
      .where(eq(trials.studyId, studyId)),
    db
      .select({ t: trials, rank: trialRankSql() })
      .from(trials)
      .where(eq(trials.studyId, studyId))
      .orderBy(...(sort === 'objective' ? trialRankOrder() : [asc(trials.index)]))
      .limit(page.limit)
      .offset(page.offset),
  ]);
  const ids = ranked.map((r) => r.t.id);
  const [rungs, reports] = await Promise.all([rungsOf(db, studyId, ids), latestReports(db, studyId, ids)]);
  return {
    rows: ranked.map(({ t, rank }) =>
      trialRow(t, t.score === null ? null : rank, rungs.get(t.id) ?? [], reports.get(t.id)),
    ),
    total,
  };
}

/** The rungs of some trials of a study, by trial, in rung order. */
export async function rungsOf(
  db: DbOrTx,
  studyId: string,
  trialIds: string[],
): Promise<Map<string, RungRecord[]>> {
  const byTrial = new Map<string, RungRecord[]>();
  if (trialIds.length === 0) return byTrial;
  const rows = await db
    .select()
    .from(trialRungs)
    .where(and(eq(trialRungs.studyId, studyId), inArray(trialRungs.trialId, trialIds)))
    .orderBy(asc(trialRungs.rung));
  for (const r of rows) {
    const list = byTrial.get(r.trialId);
    if (list) list.push(r);
    else byTrial.set(r.trialId, [r]);
  }
  return byTrial;
}

/** The classification report of each trial's last evaluated rung (some trials of a study). */
export async function latestReports(
  db: DbOrTx,
  studyId: string,
  trialIds: string[],
): Promise<Map<string, EvaluationReport>> {
  if (trialIds.length === 0) return new Map();
  const rows = await db
    .selectDistinctOn([evaluations.trialId], { trialId: evaluations.trialId, report: evaluations.report })
    .from(evaluations)
    .where(and(eq(evaluations.studyId, studyId), inArray(evaluations.trialId, trialIds)))
    .orderBy(evaluations.trialId, desc(evaluations.rung));
  return new Map(rows.map((e) => [e.trialId, e.report]));
}

/** Per-class recall of a classification report. */
export function recallOf(report: EvaluationReport): Record<string, number> {
  return Object.fromEntries(Object.entries(report.perClass).map(([c, m]) => [c, m.recall]));
}

function trialRow(
  t: TrialRecord,
  rank: number | null,
  rungs: RungRecord[],
  report: EvaluationReport | undefined,
): TrialRow {
  return {
    rank,
    trialId: t.id,
    index: t.index,
    bracket: t.bracket,
    iteration: t.iteration,
    status: t.status,
    rung: t.currentRung,
    epochs: t.epochsDone,
    score: t.score,
    meetsConstraints: t.meetsConstraints,
    valMacroF1: t.valMacroF1,
    valAccuracy: t.valAccuracy,
    valLoss: t.valLoss,
    valRecall: report ? recallOf(report) : null,
    test: t.testScores ?? {},
    pointing: t.pointing ?? null,
    hyperparameters: t.hyperparameters,
    workerId: t.workerId,
    error: t.error,
    rungs: rungs.map((r) => ({
      rung: r.rung,
      fromEpoch: r.fromEpoch,
      toEpoch: r.toEpoch,
      status: r.status,
      score: r.score,
      workerId: r.workerId,
    })),
  };
}
