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

export async function listStudies(db: DbOrTx, limit = 100, offset = 0): Promise<StudySummary[]> {
  const rows = await db
    .select()
    .from(studies)
    .orderBy(desc(studies.createdAt), asc(studies.id))
    .limit(limit)
    .offset(offset);
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

  const byStudy = <T extends { studyId: string }>(list: T[]) => new Map(list.map((x) => [x.studyId, x]));
  const [trialsOf, rungsOf, epochsOf, bestOf] = [
    byStudy(trialCounts),
    byStudy(rungCounts),
    byStudy(epochCounts),
    byStudy(best),
  ];
  return rows.map((s) => {
    const t = trialsOf.get(s.id);
    const r = rungsOf.get(s.id);
    const b = bestOf.get(s.id);
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
      epochs: epochsOf.get(s.id)?.n ?? 0,
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

/** One page of a list: `limit` rows from `offset`, and the total for the `Link`/`X-Total-Count` headers. */
export interface Page {
  limit: number;
  offset: number;
}

/** The order `sort=objective` ranks by: constraint-meeting trials first, then by score, then index. */
const objectiveOrder = () => [
  sql`${trials.score} is null`,
  sql`${trials.meetsConstraints} desc nulls last`,
  sql`${trials.score} desc`,
  asc(trials.index),
];

/**
 * Trials of a study, one page at a time; `sort=objective` ranks constraint-meeting trials
 * first, then by score. `rank` is the objective rank (the database computes it over the whole
 * study). Rungs and evaluations are fetched for the page's trials only and joined through
 * maps, so a page costs time linear in its size.
 */
export async function listTrials(
  db: DbOrTx,
  studyId: string,
  sort: 'objective' | 'index' = 'index',
  page: Page = { limit: 1000, offset: 0 },
): Promise<{ rows: TrialRow[]; total: number }> {
  const [study] = await db.select({ id: studies.id }).from(studies).where(eq(studies.id, studyId));
  if (!study) throw new NotFoundError(`no study ${studyId}`, 'list studies with GET /api/studies');
  const [{ total } = { total: 0 }] = await db
    .select({ total: sql<number>`count(*)::int` })
    .from(trials)
    .where(eq(trials.studyId, studyId));
  const rankExpr = sql<
    number | null
  >`case when ${trials.score} is null then null else (row_number() over (order by ${trials.score} is null, ${trials.meetsConstraints} desc nulls last, ${trials.score} desc, ${trials.index}))::int end`;
  const rows = await db
    .select({ t: trials, rank: rankExpr })
    .from(trials)
    .where(eq(trials.studyId, studyId))
    .orderBy(...(sort === 'objective' ? objectiveOrder() : [asc(trials.index)]))
    .limit(page.limit)
    .offset(page.offset);
  const ids = rows.map((r) => r.t.id);
  const rungsByTrial = new Map<string, (typeof trialRungs.$inferSelect)[]>();
  const reportByTrial = new Map<string, (typeof evaluations.$inferSelect)['report']>();
  if (ids.length > 0) {
    const rungs = await db
      .select()
      .from(trialRungs)
      .where(and(eq(trialRungs.studyId, studyId), inArray(trialRungs.trialId, ids)))
      .orderBy(asc(trialRungs.rung));
    for (const r of rungs) {
      const list = rungsByTrial.get(r.trialId);
      if (list) list.push(r);
      else rungsByTrial.set(r.trialId, [r]);
    }
    const evals = await db
      .selectDistinctOn([evaluations.trialId], { trialId: evaluations.trialId, report: evaluations.report })
      .from(evaluations)
      .where(and(eq(evaluations.studyId, studyId), inArray(evaluations.trialId, ids)))
      .orderBy(evaluations.trialId, desc(evaluations.rung));
    for (const e of evals) reportByTrial.set(e.trialId, e.report);
  }
  return {
    rows: rows.map(({ t, rank }) => trialRow(t, rank, rungsByTrial.get(t.id) ?? [], reportByTrial.get(t.id))),
    total,
  };
}

function trialRow(
  t: typeof trials.$inferSelect,
  rank: number | null,
  rungs: (typeof trialRungs.$inferSelect)[],
  report: (typeof evaluations.$inferSelect)['report'] | undefined,
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
    valRecall: report
      ? Object.fromEntries(Object.entries(report.perClass).map(([c, m]) => [c, m.recall]))
      : null,
    test: t.testScores ?? {},
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

export async function listWorkers(
  db: DbOrTx,
  onlineWithinMs = 15_000,
  page: Page = { limit: 1000, offset: 0 },
) {
  const rows = await db.select().from(workers).orderBy(asc(workers.id)).limit(page.limit).offset(page.offset);
  const now = Date.now();
  return rows.map((w) => ({
    ...w,
    startedAt: iso(w.startedAt),
    lastHeartbeat: w.lastHeartbeat.toISOString(),
    online: now - w.lastHeartbeat.getTime() <= onlineWithinMs,
  }));
}
