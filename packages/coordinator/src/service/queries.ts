import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { NotFoundError } from '@braintune/protocol';
import type { BestTrialSchema, StudySummarySchema, TrialRowSchema } from '../api/schemas.js';
import type { DbOrTx } from '../db/client.js';
import {
  epochMetrics,
  evaluations,
  studies,
  trialRungs,
  trials,
  workers,
  type StudyStateName,
} from '../db/schema.js';

/** The state names users see (`preparing` is shown as `queued`). */
export type PublicStudyState = z.infer<typeof StudySummarySchema>['state'];
export function publicState(state: StudyStateName): PublicStudyState {
  return state === 'preparing' ? 'queued' : state;
}

// The REST response schemas are the single source of these shapes (the CLI parses with them).
export type BestTrial = z.infer<typeof BestTrialSchema>;
export type StudySummary = z.infer<typeof StudySummarySchema>;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** One study as `braintune status` and `GET /api/studies/:id` show it. */
export async function studySummary(db: DbOrTx, studyId: string): Promise<StudySummary> {
  const [study] = await db.select().from(studies).where(eq(studies.id, studyId));
  if (!study) throw new NotFoundError(`no study ${studyId}`, 'list studies with GET /api/studies');
  const [summaries] = await summariesFor(db, [study]);
  return summaries!;
}

export async function listStudies(db: DbOrTx, limit = 100): Promise<StudySummary[]> {
  const rows = await db.select().from(studies).orderBy(desc(studies.createdAt)).limit(limit);
  return summariesFor(db, rows);
}

async function summariesFor(db: DbOrTx, rows: (typeof studies.$inferSelect)[]): Promise<StudySummary[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const trialCounts = await db
    .select({
      studyId: trials.studyId,
      total: sql<number>`count(*)::int`,
      completed: sql<number>`count(*) filter (where ${trials.status} in ('completed','stopped'))::int`,
      failed: sql<number>`count(*) filter (where ${trials.status} = 'failed')::int`,
      // Spelled out: drizzle leaves columns unqualified in a select list, and "id" would bind to r.id.
      running: sql<number>`count(*) filter (where exists (select 1 from trial_rungs r where r.trial_id = "trials"."id" and r.status = 'running'))::int`,
      cancelled: sql<number>`count(*) filter (where ${trials.status} = 'cancelled')::int`,
    })
    .from(trials)
    .where(inArray(trials.studyId, ids))
    .groupBy(trials.studyId);
  const rungCounts = await db
    .select({
      studyId: trialRungs.studyId,
      total: sql<number>`count(*)::int`,
      completed: sql<number>`count(*) filter (where ${trialRungs.status} = 'completed')::int`,
    })
    .from(trialRungs)
    .where(inArray(trialRungs.studyId, ids))
    .groupBy(trialRungs.studyId);
  const epochCounts = await db
    .select({ studyId: epochMetrics.studyId, n: sql<number>`count(*)::int` })
    .from(epochMetrics)
    .where(inArray(epochMetrics.studyId, ids))
    .groupBy(epochMetrics.studyId);
  const best = await db
    .selectDistinctOn([trials.studyId], {
      studyId: trials.studyId,
      trialId: trials.id,
      hyperparameters: trials.hyperparameters,
      score: trials.score,
      meetsConstraints: trials.meetsConstraints,
      valMacroF1: trials.valMacroF1,
      valAccuracy: trials.valAccuracy,
      testScores: trials.testScores,
    })
    .from(trials)
    .where(and(inArray(trials.studyId, ids), sql`${trials.score} is not null`))
    .orderBy(
      trials.studyId,
      sql`${trials.meetsConstraints} desc nulls last`,
      sql`${trials.score} desc`,
      asc(trials.index),
    );

  return rows.map((s) => {
    const t = trialCounts.find((c) => c.studyId === s.id);
    const r = rungCounts.find((c) => c.studyId === s.id);
    const b = best.find((c) => c.studyId === s.id);
    const total = t?.total ?? 0;
    const done = (t?.completed ?? 0) + (t?.failed ?? 0) + (t?.cancelled ?? 0);
    const running = t?.running ?? 0;
    return {
      studyId: s.id,
      name: s.name,
      state: publicState(s.state),
      error: s.error,
      endReason: s.endReason,
      createdAt: s.createdAt.toISOString(),
      startedAt: iso(s.startedAt),
      finishedAt: iso(s.finishedAt),
      objective: (s.config as { objective?: unknown }).objective ?? null,
      trials: {
        total,
        completed: t?.completed ?? 0,
        failed: t?.failed ?? 0,
        running,
        queued: Math.max(0, total - done - running),
      },
      rungs: { planned: s.plannedRungs ?? r?.total ?? 0, completed: r?.completed ?? 0 },
      epochs: epochCounts.find((c) => c.studyId === s.id)?.n ?? 0,
      testSets: testSetNames(s.config),
      best: b
        ? {
            trialId: b.trialId,
            hyperparameters: b.hyperparameters,
            score: b.score,
            meetsConstraints: b.meetsConstraints ?? false,
            valMacroF1: b.valMacroF1,
            valAccuracy: b.valAccuracy,
            test: Object.fromEntries(
              Object.entries(b.testScores ?? {}).map(([name, t]) => [
                name,
                { accuracy: t.accuracy, macroF1: t.macroF1 },
              ]),
            ),
          }
        : null,
    };
  });
}

const StoredTestSetsSchema = z.object({
  evaluation: z.object({ testSets: z.array(z.object({ name: z.string() })) }).optional(),
});

/** Test-set names from a stored (normalised) study config; configs from before test sets have none. */
function testSetNames(config: Record<string, unknown>): string[] {
  const parsed = StoredTestSetsSchema.safeParse(config);
  return parsed.success ? (parsed.data.evaluation?.testSets ?? []).map((t) => t.name) : [];
}

export type TrialRow = z.infer<typeof TrialRowSchema>;

/** Trials of a study; `sort=objective` ranks constraint-meeting trials first, then by score. */
export async function listTrials(
  db: DbOrTx,
  studyId: string,
  sort: 'objective' | 'index' = 'index',
): Promise<TrialRow[]> {
  const [study] = await db.select({ id: studies.id }).from(studies).where(eq(studies.id, studyId));
  if (!study) throw new NotFoundError(`no study ${studyId}`, 'list studies with GET /api/studies');
  const rows = await db
    .select()
    .from(trials)
    .where(eq(trials.studyId, studyId))
    .orderBy(
      ...(sort === 'objective'
        ? [
            sql`${trials.score} is null`,
            sql`${trials.meetsConstraints} desc nulls last`,
            sql`${trials.score} desc`,
            asc(trials.index),
          ]
        : [asc(trials.index)]),
    );
  const rungs = await db
    .select()
    .from(trialRungs)
    .where(eq(trialRungs.studyId, studyId))
    .orderBy(asc(trialRungs.rung));
  const evals = await db
    .selectDistinctOn([evaluations.trialId], { trialId: evaluations.trialId, report: evaluations.report })
    .from(evaluations)
    .where(eq(evaluations.studyId, studyId))
    .orderBy(evaluations.trialId, desc(evaluations.rung));
  let rank = 0;
  return rows.map((t) => {
    const report = evals.find((e) => e.trialId === t.id)?.report;
    return {
      rank: t.score === null ? null : ++rank,
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
      valRecall: report
        ? Object.fromEntries(Object.entries(report.perClass).map(([c, m]) => [c, m.recall]))
        : null,
      test: t.testScores ?? {},
      hyperparameters: t.hyperparameters,
      workerId: t.workerId,
      error: t.error,
      rungs: rungs
        .filter((r) => r.trialId === t.id)
        .map((r) => ({
          rung: r.rung,
          fromEpoch: r.fromEpoch,
          toEpoch: r.toEpoch,
          status: r.status,
          score: r.score,
          workerId: r.workerId,
        })),
    };
  });
}

export async function listWorkers(db: DbOrTx, onlineWithinMs = 15_000) {
  const rows = await db.select().from(workers).orderBy(asc(workers.id));
  const now = Date.now();
  return rows.map((w) => ({
    ...w,
    startedAt: iso(w.startedAt),
    lastHeartbeat: w.lastHeartbeat.toISOString(),
    online: now - w.lastHeartbeat.getTime() <= onlineWithinMs,
  }));
}
