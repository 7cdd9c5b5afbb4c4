import { asc, desc, eq, sql } from 'drizzle-orm';
import { formatClassificationReport } from '@braintune/model-core/metrics';
import {
  NotFoundError,
  WORKER_TTL_MS,
  type ClassificationReport,
  type DatasetRef,
  type Calibration,
  type Evaluation,
  type TestSetScores,
} from '@braintune/protocol';
import {
  epochMetrics,
  evaluations,
  studies,
  trialRungs,
  trials,
  workers,
  type Db,
} from '@braintune/coordinator';

/**
 * What the pages show, read straight from Postgres (the coordinator's tables; the
 * dashboard keeps no state of its own). One function per page, each a handful of queries
 * whatever the study size, so a 500-trial leaderboard costs the same round trips as a
 * 5-trial one.
 */

interface ObjectiveView {
  metric: string;
  direction: 'max' | 'min';
}
interface ConstraintView {
  metric: string;
  min?: number;
  max?: number;
}
interface ConfigView {
  scheduler?: { type?: string };
  objective?: Partial<ObjectiveView>;
  constraints?: ConstraintView[];
  evaluation?: { testSets?: { name: string }[] };
}

function configOf(config: Record<string, unknown>): {
  scheduler: string;
  objective: ObjectiveView;
  constraints: ConstraintView[];
  testSets: string[];
} {
  const c = config as ConfigView;
  return {
    scheduler: c.scheduler?.type ?? 'unknown',
    objective: {
      metric: c.objective?.metric ?? 'val_macro_f1',
      direction: c.objective?.direction === 'min' ? 'min' : 'max',
    },
    constraints: Array.isArray(c.constraints) ? c.constraints : [],
    testSets: Array.isArray(c.evaluation?.testSets) ? c.evaluation.testSets.map((t) => t.name) : [],
  };
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

/** trials.score is oriented (larger is better); pages show the metric's own value. */
function objectiveValue(score: number | null, objective: ObjectiveView): number | null {
  if (score === null) return null;
  return objective.direction === 'min' ? -score : score;
}

export interface StudySummary {
  id: string;
  name: string;
  state: string;
  scheduler: string;
  objective: ObjectiveView;
  constraints: ConstraintView[];
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

const countsSql = {
  rungsCompleted: sql<number>`(SELECT count(*)::int FROM ${trialRungs} r WHERE r.study_id = "studies"."id" AND r.status = 'completed')`,
  rungsRunning: sql<number>`(SELECT count(*)::int FROM ${trialRungs} r WHERE r.study_id = "studies"."id" AND r.status = 'running')`,
  rungsQueued: sql<number>`(SELECT count(*)::int FROM ${trialRungs} r WHERE r.study_id = "studies"."id" AND r.status = 'queued')`,
  trialsTotal: sql<number>`(SELECT count(*)::int FROM ${trials} t WHERE t.study_id = "studies"."id")`,
  trialsCompleted: sql<number>`(SELECT count(*)::int FROM ${trials} t WHERE t.study_id = "studies"."id" AND t.status = 'completed')`,
  trialsStopped: sql<number>`(SELECT count(*)::int FROM ${trials} t WHERE t.study_id = "studies"."id" AND t.status = 'stopped')`,
  trialsRunning: sql<number>`(SELECT count(*)::int FROM ${trials} t WHERE t.study_id = "studies"."id" AND t.status IN ('running', 'paused'))`,
  trialsFailed: sql<number>`(SELECT count(*)::int FROM ${trials} t WHERE t.study_id = "studies"."id" AND t.status = 'failed')`,
  best: sql<
    string | null
  >`(SELECT json_build_object('id', t.id, 'score', t.score, 'meets', t.meets_constraints)::text FROM ${trials} t
      WHERE t.study_id = "studies"."id" AND t.score IS NOT NULL
      ORDER BY t.meets_constraints IS TRUE DESC, t.score DESC, t.epochs_done DESC, t.index ASC LIMIT 1)`,
};

type StudyRow = typeof studies.$inferSelect & {
  [K in keyof typeof countsSql]: (typeof countsSql)[K]['_']['type'];
};

function toSummary(row: StudyRow, now: number): StudySummary {
  const { scheduler, objective, constraints, testSets } = configOf(row.config);
  const best = row.best
    ? (JSON.parse(row.best) as { id: string; score: number | null; meets: boolean | null })
    : null;
  const start = row.startedAt ?? row.createdAt;
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    scheduler,
    objective,
    constraints,
    testSets,
    rungs: {
      planned: row.plannedRungs,
      completed: row.rungsCompleted,
      running: row.rungsRunning,
      queued: row.rungsQueued,
    },
    trials: {
      total: row.trialsTotal,
      completed: row.trialsCompleted,
      running: row.trialsRunning,
      failed: row.trialsFailed,
      stopped: row.trialsStopped,
    },
    best: best
      ? {
          trialId: best.id,
          objective: objectiveValue(best.score, objective),
          meetsConstraints: best.meets === true,
        }
      : null,
    error: row.error,
    endReason: row.endReason,
    createdAt: row.createdAt.toISOString(),
    elapsedMs: (row.finishedAt?.getTime() ?? now) - start.getTime(),
  };
}

export async function listStudies(db: Db): Promise<StudySummary[]> {
  const rows = await db
    .select({ ...studiesColumns(), ...countsSql })
    .from(studies)
    .orderBy(desc(studies.createdAt));
  const now = Date.now();
  return rows.map((r) => toSummary(r as StudyRow, now));
}

function studiesColumns() {
  return {
    id: studies.id,
    name: studies.name,
    config: studies.config,
    state: studies.state,
    dataset: studies.dataset,
    plannedRungs: studies.plannedRungs,
    error: studies.error,
    endReason: studies.endReason,
    createdAt: studies.createdAt,
    startedAt: studies.startedAt,
    finishedAt: studies.finishedAt,
    updatedAt: studies.updatedAt,
  };
}

async function studySummary(db: Db, studyId: string): Promise<StudySummary> {
  const [row] = await db
    .select({ ...studiesColumns(), ...countsSql })
    .from(studies)
    .where(eq(studies.id, studyId));
  if (!row) throw new NotFoundError(`no study ${studyId}`, 'open the studies page for the list');
  return toSummary(row as StudyRow, Date.now());
}

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

export interface BracketView {
  label: string;
  rungs: {
    rung: number;
    toEpoch: number;
    trials: { trialId: string; index: number; state: string; score: number | null }[];
  }[];
}

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

export interface StudySnapshot {
  generatedAt: number;
  study: StudySummary;
  classes: string[];
  bestTrialId: string | null;
  /** Names of the study's external test sets (`evaluation.testSets`): one column pair each. */
  testSets: string[];
  varyingHyperparameters: string[];
  /** The study's dataset bundles (image size, preprocessing, split summary); empty while preparing. */
  datasets: DatasetRef[];
  rows: LeaderboardRow[];
  curves: CurveSeries[];
  brackets: BracketView[];
  workers: WorkerView[];
}

function metricOf(
  metric: string,
  row: {
    valAccuracy: number | null;
    valMacroF1: number | null;
    valLoss: number | null;
    recall: Record<string, number>;
  },
): number | null {
  if (metric === 'val_macro_f1') return row.valMacroF1;
  if (metric === 'val_accuracy') return row.valAccuracy;
  if (metric === 'val_loss') return row.valLoss;
  if (metric.startsWith('val_recall:')) return row.recall[metric.slice('val_recall:'.length)] ?? null;
  return null;
}

function violationsOf(constraints: ConstraintView[], row: Parameters<typeof metricOf>[1]): string[] {
  const out: string[] = [];
  for (const c of constraints) {
    const v = metricOf(c.metric, row);
    if (v === null) out.push(`${c.metric} unknown`);
    else if (c.min !== undefined && v < c.min) out.push(`${c.metric} ${v.toFixed(3)} < ${c.min}`);
    else if (c.max !== undefined && v > c.max) out.push(`${c.metric} ${v.toFixed(3)} > ${c.max}`);
  }
  return out;
}

function flatten(hp: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hp)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      Object.assign(out, flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

export async function studySnapshot(db: Db, studyId: string): Promise<StudySnapshot> {
  const study = await studySummary(db, studyId);
  const [trialRows, evalRows, epochRows, rungRows, workerRows, datasetRow] = await Promise.all([
    db.select().from(trials).where(eq(trials.studyId, studyId)).orderBy(asc(trials.index)),
    db
      .selectDistinctOn([evaluations.trialId], {
        trialId: evaluations.trialId,
        report: evaluations.report,
        classes: evaluations.classes,
      })
      .from(evaluations)
      .where(eq(evaluations.studyId, studyId))
      .orderBy(evaluations.trialId, desc(evaluations.rung)),
    db
      .select({
        trialId: epochMetrics.trialId,
        epoch: epochMetrics.epoch,
        valMacroF1: epochMetrics.valMacroF1,
        valLoss: epochMetrics.valLoss,
        valRecall: epochMetrics.valRecall,
      })
      .from(epochMetrics)
      .where(eq(epochMetrics.studyId, studyId))
      .orderBy(epochMetrics.trialId, epochMetrics.epoch),
    db.select().from(trialRungs).where(eq(trialRungs.studyId, studyId)).orderBy(asc(trialRungs.rung)),
    db.select().from(workers).orderBy(asc(workers.id)),
    db
      .select({ dataset: studies.dataset, datasets: studies.datasets })
      .from(studies)
      .where(eq(studies.id, studyId)),
  ]);

  const reports = new Map(evalRows.map((e) => [e.trialId, e.report]));
  const lastRecall = new Map<string, Record<string, number>>();
  const curvesById = new Map<string, CurveSeries>();
  for (const e of epochRows) {
    let c = curvesById.get(e.trialId);
    if (!c) curvesById.set(e.trialId, (c = { trialId: e.trialId, epochs: [], valMacroF1: [], valLoss: [] }));
    c.epochs.push(e.epoch);
    c.valMacroF1.push(e.valMacroF1);
    c.valLoss.push(e.valLoss);
    lastRecall.set(e.trialId, e.valRecall);
  }
  const classes =
    datasetRow[0]?.dataset?.classes ??
    evalRows[0]?.classes ??
    [...new Set([...lastRecall.values()].flatMap((r) => Object.keys(r)))].sort();

  const rows: LeaderboardRow[] = trialRows.map((t) => {
    const report: ClassificationReport | undefined = reports.get(t.id);
    const recall = report
      ? Object.fromEntries(Object.entries(report.perClass).map(([c, m]) => [c, m.recall]))
      : (lastRecall.get(t.id) ?? {});
    const base = { valAccuracy: t.valAccuracy, valMacroF1: t.valMacroF1, valLoss: t.valLoss, recall };
    const scored = t.score !== null;
    return {
      rank: 0,
      trialId: t.id,
      index: t.index,
      status: t.status,
      rung: t.currentRung,
      bracket: t.bracket,
      epochs: t.epochsDone,
      objective: objectiveValue(t.score, study.objective),
      ...base,
      meetsConstraints: t.meetsConstraints,
      violations: scored ? violationsOf(study.constraints, base) : [],
      test: testHeadlines(t.testScores),
      hyperparameters: flatten(t.hyperparameters as unknown as Record<string, unknown>),
      worker: t.workerId,
      promotable: scored && (t.status === 'completed' || t.status === 'stopped'),
    };
  });
  // Rank (as the registry's default promote): constraints met first, then the objective, the longer training, creation order.
  const scoreOf = new Map(trialRows.map((t) => [t.id, t]));
  rows.sort((a, b) => {
    const ta = scoreOf.get(a.trialId)!;
    const tb = scoreOf.get(b.trialId)!;
    const sa = ta.score === null ? 0 : ta.meetsConstraints ? 2 : 1;
    const sb = tb.score === null ? 0 : tb.meetsConstraints ? 2 : 1;
    return sb - sa || (tb.score ?? 0) - (ta.score ?? 0) || tb.epochsDone - ta.epochsDone || a.index - b.index;
  });
  rows.forEach((r, i) => (r.rank = i + 1));
  const bestTrialId = rows[0] && rows[0].objective !== null ? rows[0].trialId : null;

  const keys = new Set(rows.flatMap((r) => Object.keys(r.hyperparameters)));
  const varyingHyperparameters = [...keys]
    .filter((k) => new Set(rows.map((r) => JSON.stringify(r.hyperparameters[k]))).size > 1)
    .sort();
  // The leaderboard shows the searched hyperparameters only (the trial page has them all): a smaller payload per update.
  for (const r of rows)
    r.hyperparameters = Object.fromEntries(varyingHyperparameters.map((k) => [k, r.hyperparameters[k]]));

  const now = Date.now();
  return {
    generatedAt: now,
    study,
    classes,
    bestTrialId,
    testSets: study.testSets,
    varyingHyperparameters,
    datasets: datasetRow[0]?.datasets ?? [],
    rows,
    curves: [...curvesById.values()],
    brackets: bracketsOf(study.scheduler, trialRows, rungRows),
    workers: workerRows.map((w) => ({
      id: w.id,
      host: w.host,
      backend: w.backend,
      device: w.device,
      currentTrialId: w.currentTrial,
      imagesPerSecond: w.imagesPerSecond,
      lastHeartbeat: w.lastHeartbeat.toISOString(),
      online: now - w.lastHeartbeat.getTime() <= WORKER_TTL_MS,
    })),
  };
}

/**
 * The successive-halving picture: for each bracket (Hyperband) or the single ladder
 * (ASHA / random), every rung with the trials that reached it, each marked promoted
 * (it went on to the next rung), stopped, completed (top rung), running, queued or failed.
 */
function bracketsOf(
  scheduler: string,
  trialRows: (typeof trials.$inferSelect)[],
  rungRows: (typeof trialRungs.$inferSelect)[],
): BracketView[] {
  const trialById = new Map(trialRows.map((t) => [t.id, t]));
  // A rung that trained to the study's longest budget is the top of its ladder: finished, not stopped.
  const topEpoch = Math.max(0, ...rungRows.map((r) => r.toEpoch));
  const maxRung = new Map<string, number>();
  for (const r of rungRows) maxRung.set(r.trialId, Math.max(maxRung.get(r.trialId) ?? -1, r.rung));
  const groups = new Map<
    string,
    { label: string; order: number[]; rungs: Map<number, BracketView['rungs'][number]> }
  >();
  for (const r of rungRows) {
    const t = trialById.get(r.trialId);
    if (!t) continue;
    const key = t.bracket === null ? 'all' : `${t.iteration ?? 0}:${t.bracket}`;
    let g = groups.get(key);
    if (!g) {
      const label =
        t.bracket === null
          ? scheduler === 'random'
            ? 'Random search'
            : 'ASHA rungs'
          : `${(t.iteration ?? 0) > 0 ? `iteration ${t.iteration} · ` : ''}bracket ${t.bracket}`;
      groups.set(key, (g = { label, order: [t.iteration ?? 0, -(t.bracket ?? 0)], rungs: new Map() }));
    }
    let rung = g.rungs.get(r.rung);
    if (!rung) g.rungs.set(r.rung, (rung = { rung: r.rung, toEpoch: r.toEpoch, trials: [] }));
    rung.toEpoch = Math.max(rung.toEpoch, r.toEpoch);
    let state: string = r.status;
    if (r.status === 'completed') {
      if ((maxRung.get(r.trialId) ?? r.rung) > r.rung) state = 'promoted';
      else if (r.toEpoch >= topEpoch) state = 'completed';
      else if (t.status === 'stopped' || t.status === 'cancelled') state = 'stopped';
      else state = 'completed';
    } else if (r.status === 'cancelled') state = 'stopped';
    rung.trials.push({ trialId: t.id, index: t.index, state, score: r.score });
  }
  return [...groups.values()]
    .sort((a, b) => a.order[0]! - b.order[0]! || a.order[1]! - b.order[1]!)
    .map((g) => ({
      label: g.label,
      rungs: [...g.rungs.values()]
        .sort((a, b) => a.rung - b.rung)
        .map((r) => ({
          ...r,
          trials: r.trials.sort(
            (x, y) => (y.score ?? -Infinity) - (x.score ?? -Infinity) || x.index - y.index,
          ),
        })),
    }));
}

export interface TrialDetail {
  trial: {
    id: string;
    index: number;
    studyId: string;
    studyName: string;
    status: string;
    rung: number;
    bracket: number | null;
    epochs: number;
    worker: string | null;
    error: string | null;
    hyperparameters: Record<string, unknown>;
    checkpointKey: string;
    objective: number | null;
    meetsConstraints: boolean | null;
    createdAt: string;
    updatedAt: string;
  };
  objective: ObjectiveView;
  evaluation: Evaluation | null;
  /** Temperature and triage operating point of the last evaluated rung (null: not calibrated). */
  calibration: Calibration | null;
  reportText: string | null;
  /** The last finished rung's external test-set scores, by name (not part of the objective). */
  test: TestSetScores;
  epochs: {
    epoch: number;
    loss: number;
    accuracy: number;
    valLoss: number;
    valAccuracy: number;
    valMacroF1: number;
    valRecall: Record<string, number>;
    trainImagesPerSecond: number;
    durationMs: number;
  }[];
  rungs: {
    rung: number;
    fromEpoch: number;
    toEpoch: number;
    status: string;
    score: number | null;
    worker: string | null;
    error: string | null;
  }[];
  promotable: boolean;
}

export async function trialDetail(db: Db, trialId: string): Promise<TrialDetail> {
  const [row] = await db
    .select({ t: trials, studyName: studies.name, config: studies.config })
    .from(trials)
    .innerJoin(studies, eq(studies.id, trials.studyId))
    .where(eq(trials.id, trialId));
  if (!row)
    throw new NotFoundError(`no trial ${trialId}`, 'open a study and pick a trial from its leaderboard');
  const { t } = row;
  const { objective } = configOf(row.config);
  const [evalRows, epochRows, rungRows] = await Promise.all([
    db
      .select()
      .from(evaluations)
      .where(eq(evaluations.trialId, trialId))
      .orderBy(desc(evaluations.rung))
      .limit(1),
    db.select().from(epochMetrics).where(eq(epochMetrics.trialId, trialId)).orderBy(asc(epochMetrics.epoch)),
    db.select().from(trialRungs).where(eq(trialRungs.trialId, trialId)).orderBy(asc(trialRungs.rung)),
  ]);
  const e = evalRows[0];
  const evaluation: Evaluation | null = e
    ? { classes: e.classes, confusionMatrix: e.confusionMatrix, report: e.report, loss: e.loss }
    : null;
  return {
    trial: {
      id: t.id,
      index: t.index,
      studyId: t.studyId,
      studyName: row.studyName,
      status: t.status,
      rung: t.currentRung,
      bracket: t.bracket,
      epochs: t.epochsDone,
      worker: t.workerId,
      error: t.error ?? rungRows.find((r) => r.error)?.error ?? null,
      hyperparameters: t.hyperparameters as unknown as Record<string, unknown>,
      checkpointKey: t.checkpointKey,
      objective: objectiveValue(t.score, objective),
      meetsConstraints: t.meetsConstraints,
      createdAt: t.createdAt.toISOString(),
      updatedAt: t.updatedAt.toISOString(),
    },
    objective,
    evaluation,
    calibration: e?.calibration ?? null,
    reportText: evaluation ? formatClassificationReport(evaluation.report) : null,
    test: t.testScores ?? {},
    epochs: epochRows.map((m) => ({
      epoch: m.epoch,
      loss: m.loss,
      accuracy: m.accuracy,
      valLoss: m.valLoss,
      valAccuracy: m.valAccuracy,
      valMacroF1: m.valMacroF1,
      valRecall: m.valRecall,
      trainImagesPerSecond: m.trainImagesPerSecond,
      durationMs: m.durationMs,
    })),
    rungs: rungRows.map((r) => ({
      rung: r.rung,
      fromEpoch: r.fromEpoch,
      toEpoch: r.toEpoch,
      status: r.status,
      score: objectiveValue(r.score, objective),
      worker: r.workerId,
      error: r.error,
    })),
    promotable: t.score !== null && (t.status === 'completed' || t.status === 'stopped'),
  };
}
