import { asc, eq } from 'drizzle-orm';
import { WORKER_TTL_MS, type DatasetRef } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { evaluations, studies, workers } from '../db/schema.js';
import { studyBrackets, type BracketView } from './brackets.js';
import { leaderboardPage, type CurveSeries, type LeaderboardRow } from './leaderboard.js';
import type { Page } from './page.js';
import { studyOverview, type StudyOverview } from './study-overview.js';
import { varyingHyperparameters } from './varying-hyperparameters.js';

export interface WorkerView {
  id: string;
  host: string;
  backend: string;
  device: string;
  currentTrialId: string | null;
  imagesPerSecond: number | null;
  lastHeartbeat: string;
  online: boolean;
}

/** What the study page draws: the overview, one leaderboard page and its curves, brackets, workers. */
export interface StudySnapshot {
  generatedAt: number;
  study: StudyOverview;
  classes: string[];
  bestTrialId: string | null;
  /** Names of the study's external test sets (`evaluation.testSets`): one column pair each. */
  testSets: string[];
  varyingHyperparameters: string[];
  /** The study's dataset bundles (image size, preprocessing, split summary); empty while preparing. */
  datasets: DatasetRef[];
  /** The leaderboard page shown: ranks `offset + 1` … `offset + rows.length` of `total` trials. */
  page: { offset: number; limit: number; total: number };
  rows: LeaderboardRow[];
  /** Validation curves of the page's trials. */
  curves: CurveSeries[];
  brackets: BracketView[];
  workers: WorkerView[];
}

/** Leaderboard rows a page shows unless asked otherwise (the live view follows the first page). */
export const LEADERBOARD_PAGE = 100;

/**
 * The study page's data, one leaderboard page at a time: a fixed number of queries, each
 * bounded by the page (the ranking, counts and bracket picture are computed in Postgres).
 */
export async function studySnapshot(
  db: DbOrTx,
  studyId: string,
  page: Page = { limit: LEADERBOARD_PAGE, offset: 0 },
): Promise<StudySnapshot> {
  const study = await studyOverview(db, studyId);
  const varying = await varyingHyperparameters(db, studyId);
  const [board, brackets, workerViews, [datasetRow], [firstEvaluation]] = await Promise.all([
    leaderboardPage(db, study, varying, page),
    studyBrackets(db, studyId, study.scheduler),
    workerList(db),
    db
      .select({ dataset: studies.dataset, datasets: studies.datasets })
      .from(studies)
      .where(eq(studies.id, studyId)),
    db
      .select({ classes: evaluations.classes })
      .from(evaluations)
      .where(eq(evaluations.studyId, studyId))
      .limit(1),
  ]);
  return {
    generatedAt: Date.now(),
    study,
    classes: datasetRow?.dataset?.classes ?? firstEvaluation?.classes ?? board.recallClasses,
    bestTrialId: study.best?.trialId ?? null,
    testSets: study.testSets,
    varyingHyperparameters: varying,
    datasets: datasetRow?.datasets ?? [],
    page: { offset: page.offset, limit: page.limit, total: study.trials.total },
    rows: board.rows,
    curves: board.curves,
    brackets,
    workers: workerViews,
  };
}

async function workerList(db: DbOrTx): Promise<WorkerView[]> {
  const rows = await db.select().from(workers).orderBy(asc(workers.id));
  const now = Date.now();
  return rows.map((w) => ({
    id: w.id,
    host: w.host,
    backend: w.backend,
    device: w.device,
    currentTrialId: w.currentTrial,
    imagesPerSecond: w.imagesPerSecond,
    lastHeartbeat: w.lastHeartbeat.toISOString(),
    online: now - w.lastHeartbeat.getTime() <= WORKER_TTL_MS,
  }));
}
