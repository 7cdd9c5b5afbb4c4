import { and, asc, eq, inArray } from 'drizzle-orm';
import type { PointingScore, TestSetScores } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { epochMetrics, trials } from '../db/schema.js';
import { constraintViolations, naturalValue, type MetricValues } from '../study/objective.js';
import type { Page } from './page.js';
import { trialRankOrder, trialRankSql } from './ranking.js';
import type { StudyOverview } from './study-overview.js';
import { latestReports, recallOf } from './trial-rows.js';
import { flattenHyperparameters } from './varying-hyperparameters.js';

export interface LeaderboardRow {
  rank: number;
  trialId: string;
  index: number;
  status: string;
  rung: number;
  bracket: number | null;
  epochs: number;
  objective: number | null;
  valAccuracy: number | null;
  valMacroF1: number | null;
  valLoss: number | null;
  recall: Record<string, number>;
  meetsConstraints: boolean | null;
  violations: string[];
  /** External test sets by name: shown beside the objective, never ranked on. */
  test: Record<string, { accuracy: number; macroF1: number; images: number }>;
  /** Whether the explanations point at the lesion (phantom data sets only); never ranked on. */
  pointing: PointingScore | null;
  /** The hyperparameters that vary across the study's trials (flattened: `augmentation.flip`). */
  hyperparameters: Record<string, unknown>;
  worker: string | null;
  promotable: boolean;
}

export interface CurveSeries {
  trialId: string;
  epochs: number[];
  valMacroF1: number[];
  valLoss: number[];
}

export interface LeaderboardPage {
  rows: LeaderboardRow[];
  /** Validation curves of the page's trials. */
  curves: CurveSeries[];
  /** Classes seen in the page's per-epoch recall (for studies without a dataset row yet). */
  recallClasses: string[];
}

/** Trial states whose checkpoint can be promoted to the registry. */
const PROMOTABLE = new Set(['completed', 'stopped']);

/**
 * One page of the leaderboard, ranked by Postgres (ranking.ts); the page's evaluations and
 * epoch curves are read for its trials only, so the cost follows the page, not the study.
 */
export async function leaderboardPage(
  db: DbOrTx,
  study: Pick<StudyOverview, 'id' | 'objective' | 'constraints'>,
  varying: string[],
  page: Page,
): Promise<LeaderboardPage> {
  const ranked = await db
    .select({ t: trials, rank: trialRankSql() })
    .from(trials)
    .where(eq(trials.studyId, study.id))
    .orderBy(...trialRankOrder())
    .limit(page.limit)
    .offset(page.offset);
  const ids = ranked.map((r) => r.t.id);
  const [reports, curves] = await Promise.all([
    latestReports(db, study.id, ids),
    curvesOf(db, study.id, ids),
  ]);
  const rows = ranked.map(({ t, rank }): LeaderboardRow => {
    const report = reports.get(t.id);
    const recall = report ? recallOf(report) : (curves.lastRecall.get(t.id) ?? {});
    const values = { valAccuracy: t.valAccuracy, valMacroF1: t.valMacroF1, valLoss: t.valLoss };
    const scored = t.score !== null;
    const flat = flattenHyperparameters(t.hyperparameters as unknown as Record<string, unknown>);
    return {
      rank,
      trialId: t.id,
      index: t.index,
      status: t.status,
      rung: t.currentRung,
      bracket: t.bracket,
      epochs: t.epochsDone,
      objective: naturalValue(t.score, study.objective),
      ...values,
      recall,
      meetsConstraints: t.meetsConstraints,
      violations: scored ? constraintViolations(metricValuesOf(values, recall), study.constraints) : [],
      test: testHeadlines(t.testScores),
      pointing: t.pointing ?? null,
      // The searched hyperparameters only (the trial page has them all): a smaller payload per update.
      hyperparameters: Object.fromEntries(varying.map((k) => [k, flat[k]])),
      worker: t.workerId,
      promotable: scored && PROMOTABLE.has(t.status),
    };
  });
  const recallClasses = [...new Set([...curves.lastRecall.values()].flatMap((r) => Object.keys(r)))].sort();
  return { rows, curves: [...curves.series.values()], recallClasses };
}

/** A leaderboard row's figures as the metric names constraints are written in. */
function metricValuesOf(
  v: { valAccuracy: number | null; valMacroF1: number | null; valLoss: number | null },
  recall: Record<string, number>,
): MetricValues {
  const values: MetricValues = {};
  if (v.valAccuracy !== null) values.val_accuracy = v.valAccuracy;
  if (v.valMacroF1 !== null) values.val_macro_f1 = v.valMacroF1;
  if (v.valLoss !== null) values.val_loss = v.valLoss;
  for (const [c, r] of Object.entries(recall)) values[`val_recall:${c}`] = r;
  return values;
}

/** Leaderboard cells of the external test sets: headline figures only (the trial page has the rest). */
function testHeadlines(scores: TestSetScores | null): LeaderboardRow['test'] {
  return Object.fromEntries(
    Object.entries(scores ?? {}).map(([name, t]) => [
      name,
      { accuracy: t.accuracy, macroF1: t.macroF1, images: t.images },
    ]),
  );
}

/** Per-epoch validation curves of some trials, and each one's last per-class recall. */
async function curvesOf(db: DbOrTx, studyId: string, trialIds: string[]) {
  const series = new Map<string, CurveSeries>();
  const lastRecall = new Map<string, Record<string, number>>();
  if (trialIds.length === 0) return { series, lastRecall };
  const rows = await db
    .select({
      trialId: epochMetrics.trialId,
      epoch: epochMetrics.epoch,
      valMacroF1: epochMetrics.valMacroF1,
      valLoss: epochMetrics.valLoss,
      valRecall: epochMetrics.valRecall,
    })
    .from(epochMetrics)
    .where(and(eq(epochMetrics.studyId, studyId), inArray(epochMetrics.trialId, trialIds)))
    .orderBy(epochMetrics.trialId, asc(epochMetrics.epoch));
  for (const e of rows) {
    let c = series.get(e.trialId);
    if (!c) series.set(e.trialId, (c = { trialId: e.trialId, epochs: [], valMacroF1: [], valLoss: [] }));
    c.epochs.push(e.epoch);
    c.valMacroF1.push(e.valMacroF1);
    c.valLoss.push(e.valLoss);
    lastRecall.set(e.trialId, e.valRecall);
  }
  return { series, lastRecall };
}
