import type { DbOrTx } from '../db/client.js';
import {
  naturalValue,
  storedConstraints,
  storedObjective,
  type Constraint,
  type Objective,
} from '../study/objective.js';
import { studyCounts, type StudyCounts } from './study-counts.js';
import type { Page } from './page.js';
import { studyPage, studyRow, testSetNames, type StudyRow } from './study-summary.js';

/** A study as the dashboard's pages show it (the API's `StudySummary` is the CLI's view). */
export interface StudyOverview {
  id: string;
  name: string;
  state: string;
  scheduler: string;
  objective: Objective;
  constraints: Constraint[];
  /** Names of the external test sets (`evaluation.testSets`). */
  testSets: string[];
  rungs: { planned: number | null; completed: number; running: number; queued: number };
  trials: { total: number; completed: number; running: number; failed: number; stopped: number };
  best: { trialId: string; objective: number | null; meetsConstraints: boolean } | null;
  error: string | null;
  /** Why the study completed before its plan ran out (e.g. a search space smaller than the plan). */
  endReason: string | null;
  createdAt: string;
  elapsedMs: number | null;
}

export async function studyOverview(db: DbOrTx, studyId: string): Promise<StudyOverview> {
  const study = await studyRow(db, studyId, 'open the studies page for the list');
  const counts = await studyCounts(db, [study.id]);
  return toOverview(study, counts.get(study.id)!, Date.now());
}

/** Studies newest first, one page at a time, with the total. */
export async function listStudyOverviews(
  db: DbOrTx,
  page: Page,
): Promise<{ rows: StudyOverview[]; total: number }> {
  const { rows, total } = await studyPage(db, page);
  const now = Date.now();
  return { rows: rows.map(({ study, counts }) => toOverview(study, counts, now)), total };
}

const schedulerTypeOf = (config: Record<string, unknown>): string => {
  const scheduler = config.scheduler as { type?: unknown } | undefined;
  return typeof scheduler?.type === 'string' ? scheduler.type : 'unknown';
};

function toOverview(row: StudyRow, c: StudyCounts, now: number): StudyOverview {
  const objective = storedObjective(row.config);
  const start = row.startedAt ?? row.createdAt;
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    scheduler: schedulerTypeOf(row.config),
    objective,
    constraints: storedConstraints(row.config),
    testSets: testSetNames(row.config),
    rungs: {
      planned: row.plannedRungs,
      completed: c.rungsByStatus.completed ?? 0,
      running: c.rungsByStatus.running ?? 0,
      queued: c.rungsByStatus.queued ?? 0,
    },
    trials: {
      total: c.trialsTotal,
      completed: c.trialsByStatus.completed ?? 0,
      running: (c.trialsByStatus.running ?? 0) + (c.trialsByStatus.paused ?? 0),
      failed: c.trialsByStatus.failed ?? 0,
      stopped: c.trialsByStatus.stopped ?? 0,
    },
    best: c.best
      ? {
          trialId: c.best.id,
          objective: naturalValue(c.best.score, objective),
          meetsConstraints: c.best.meetsConstraints === true,
        }
      : null,
    error: row.error,
    endReason: row.endReason,
    createdAt: row.createdAt.toISOString(),
    elapsedMs: (row.finishedAt?.getTime() ?? now) - start.getTime(),
  };
}
