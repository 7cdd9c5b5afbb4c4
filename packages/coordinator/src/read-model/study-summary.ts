import { asc, desc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { NotFoundError } from '@braintune/protocol';
import type { BestTrialSchema, StudySummarySchema } from '../api/schemas.js';
import type { DbOrTx } from '../db/client.js';
import { studies, type StudyStateName } from '../db/schema.js';
import { studyCounts, type StudyCounts } from './study-counts.js';
import type { Page } from './page.js';

/** The state names users see (`preparing` is shown as `queued`). */
export type PublicStudyState = z.infer<typeof StudySummarySchema>['state'];
export function publicState(state: StudyStateName): PublicStudyState {
  return state === 'preparing' ? 'queued' : state;
}

// The REST response schemas are the single source of these shapes (the CLI parses with them).
export type BestTrial = z.infer<typeof BestTrialSchema>;
export type StudySummary = z.infer<typeof StudySummarySchema>;
export type StudyRow = typeof studies.$inferSelect;

export const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** The study row, or a NotFoundError naming where the list of studies is. */
export async function studyRow(db: DbOrTx, studyId: string, hint: string): Promise<StudyRow> {
  const [study] = await db.select().from(studies).where(eq(studies.id, studyId));
  if (!study) throw new NotFoundError(`no study ${studyId}`, hint);
  return study;
}

/** One study as `braintune status` and `GET /api/studies/:id` show it. */
export async function studySummary(db: DbOrTx, studyId: string): Promise<StudySummary> {
  const study = await studyRow(db, studyId, 'list studies with GET /api/studies');
  const counts = await studyCounts(db, [study.id]);
  return toStudySummary(study, counts.get(study.id)!);
}

/** Studies newest first, one page at a time, with the total for the paging headers. */
export async function listStudies(
  db: DbOrTx,
  page: Page = { limit: 100, offset: 0 },
): Promise<{ rows: StudySummary[]; total: number }> {
  const { rows, total } = await studyPage(db, page);
  return { rows: rows.map(({ study, counts }) => toStudySummary(study, counts)), total };
}

/**
 * One page of studies, newest first, with their counts (five grouped queries for the whole
 * page) and the total: what the API's list and the dashboard's list are both made of.
 */
export async function studyPage(
  db: DbOrTx,
  page: Page,
): Promise<{ rows: { study: StudyRow; counts: StudyCounts }[]; total: number }> {
  const [rows, [{ total } = { total: 0 }]] = await Promise.all([
    db
      .select()
      .from(studies)
      .orderBy(desc(studies.createdAt), asc(studies.id))
      .limit(page.limit)
      .offset(page.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(studies),
  ]);
  const counts = await studyCounts(
    db,
    rows.map((r) => r.id),
  );
  return { rows: rows.map((study) => ({ study, counts: counts.get(study.id)! })), total };
}

function toStudySummary(s: StudyRow, c: StudyCounts): StudySummary {
  const completed = (c.trialsByStatus.completed ?? 0) + (c.trialsByStatus.stopped ?? 0);
  const failed = c.trialsByStatus.failed ?? 0;
  const done = completed + failed + (c.trialsByStatus.cancelled ?? 0);
  const b = c.best;
  return {
    studyId: s.id,
    name: s.name,
    state: publicState(s.state),
    error: s.error,
    endReason: s.endReason,
    createdAt: s.createdAt.toISOString(),
    startedAt: isoOrNull(s.startedAt),
    finishedAt: isoOrNull(s.finishedAt),
    objective: (s.config as { objective?: unknown }).objective ?? null,
    trials: {
      total: c.trialsTotal,
      completed,
      failed,
      running: c.trialsTraining,
      queued: Math.max(0, c.trialsTotal - done - c.trialsTraining),
    },
    rungs: { planned: s.plannedRungs ?? c.rungsTotal, completed: c.rungsByStatus.completed ?? 0 },
    epochs: c.epochs,
    testSets: testSetNames(s.config),
    best: b
      ? {
          trialId: b.id,
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
}

const StoredTestSetsSchema = z.object({
  evaluation: z.object({ testSets: z.array(z.object({ name: z.string() })) }).optional(),
});

/** Test-set names from a stored (normalised) study config; configs from before test sets have none. */
export function testSetNames(config: Record<string, unknown>): string[] {
  const parsed = StoredTestSetsSchema.safeParse(config);
  return parsed.success ? (parsed.data.evaluation?.testSets ?? []).map((t) => t.name) : [];
}
