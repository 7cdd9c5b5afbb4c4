import { asc, desc, eq } from 'drizzle-orm';
import {
  NotFoundError,
  type Calibration,
  type Evaluation,
  type PointingScore,
  type TestSetScores,
} from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { epochMetrics, evaluations, studies, trialRungs, trials } from '../db/schema.js';
import { naturalValue, storedObjective, type Objective } from '../study/objective.js';

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
  objective: Objective;
  evaluation: Evaluation | null;
  /** Temperature and triage operating point of the last evaluated rung (null: not calibrated). */
  calibration: Calibration | null;
  /** The last finished rung's external test-set scores, by name (not part of the objective). */
  test: TestSetScores;
  /** The last finished rung's pointing game (phantom data sets with lesion masks), else null. */
  pointing: PointingScore | null;
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

/** One trial for the trial page: its rungs, epochs and last evaluation, objectives in the metric's own direction. */
export async function trialDetail(db: DbOrTx, trialId: string): Promise<TrialDetail> {
  const [row] = await db
    .select({ t: trials, studyName: studies.name, config: studies.config })
    .from(trials)
    .innerJoin(studies, eq(studies.id, trials.studyId))
    .where(eq(trials.id, trialId));
  if (!row)
    throw new NotFoundError(`no trial ${trialId}`, 'open a study and pick a trial from its leaderboard');
  const { t } = row;
  const objective = storedObjective(row.config);
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
      objective: naturalValue(t.score, objective),
      meetsConstraints: t.meetsConstraints,
      createdAt: t.createdAt.toISOString(),
      updatedAt: t.updatedAt.toISOString(),
    },
    objective,
    evaluation: e
      ? { classes: e.classes, confusionMatrix: e.confusionMatrix, report: e.report, loss: e.loss }
      : null,
    calibration: e?.calibration ?? null,
    test: t.testScores ?? {},
    pointing: t.pointing ?? null,
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
      score: naturalValue(r.score, objective),
      worker: r.workerId,
      error: r.error,
    })),
    promotable: t.score !== null && (t.status === 'completed' || t.status === 'stopped'),
  };
}
