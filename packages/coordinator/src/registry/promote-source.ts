import type { TestSetScores } from '@braintune/protocol';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { ArtifactStore } from '@braintune/artifacts';
import { CalibrationSchema, InvalidInputError, NotFoundError, type Calibration } from '@braintune/protocol';
import { evaluations, studies, trials, type Db } from '../db/index.js';
import { trialRankOrder } from '../read-model/ranking.js';
import { naturalValue, storedObjective } from '../study/objective.js';

/** Metrics copied into a version when it is promoted (the source trial may be deleted later). */
export interface VersionMetrics {
  objective: { metric: string; direction: string; value: number | null } | null;
  meetsConstraints: boolean | null;
  valAccuracy: number | null;
  valMacroF1: number | null;
  valLoss: number | null;
  recall: Record<string, number>;
  epochs: number;
  /** Temperature and operating point fitted on validation (absent: an uncalibrated checkpoint). */
  calibration?: Calibration | null | undefined;
}

/** Statuses of trials whose last finished rung has an evaluated checkpoint. */
export const PROMOTABLE = ['completed', 'stopped'] as const;

/** The parts of a checkpoint's state.json the registry reads (written by model-core). */
const CheckpointStateView = z
  .object({
    epoch: z.number().int(),
    classes: z.array(z.string()),
    imageSize: z.number().int(),
    preprocessing: z.record(z.string(), z.unknown()),
    pixelScale: z.number(),
    hparams: z.record(z.string(), z.unknown()),
    calibration: CalibrationSchema.optional(),
  })
  .passthrough();
const LatestView = z.object({ epoch: z.number().int(), path: z.string().regex(/^epoch-\d+$/) });

export type Study = typeof studies.$inferSelect;

/** A trial checkpoint ready to be copied into the registry. */
export interface PromoteSource {
  trialId: string;
  sourceDir: string;
  snapshot: string;
  state: z.infer<typeof CheckpointStateView>;
  metrics: VersionMetrics;
  /** The trial's external test-set scores (shown beside, never inside, the metrics). */
  testScores: TestSetScores | null;
}

export async function requireStudy(db: Db, studyId: string): Promise<Study> {
  const [study] = await db.select().from(studies).where(eq(studies.id, studyId));
  if (!study)
    throw new NotFoundError(`no study ${studyId}`, 'list studies with `braintune status` or the dashboard');
  return study;
}

/**
 * Promotable trials of a study, best first: the ranking of the leaderboard and of `promote`
 * (constraints met first, then the objective score, then the longer-trained, then the older).
 */
export async function rankedTrialIds(db: Db, studyId: string, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: trials.id })
    .from(trials)
    .where(
      and(
        eq(trials.studyId, studyId),
        inArray(trials.status, [...PROMOTABLE]),
        sql`${trials.score} IS NOT NULL`,
      ),
    )
    .orderBy(...trialRankOrder())
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Checks a trial can be promoted, pulls its checkpoint and reads what the version records. */
export async function promoteSource(
  db: Db,
  artifacts: ArtifactStore,
  study: Study,
  trialId: string,
): Promise<PromoteSource> {
  const [trial] = await db.select().from(trials).where(eq(trials.id, trialId));
  if (!trial || trial.studyId !== study.id)
    throw new NotFoundError(
      `no trial ${trialId} in study ${study.id}`,
      'pick a trial from the study leaderboard',
    );
  if (!(PROMOTABLE as readonly string[]).includes(trial.status) || trial.score === null) {
    throw new InvalidInputError(
      `trial ${trialId} is ${trial.status} and has no evaluated checkpoint`,
      'promote a trial that completed at least one rung',
    );
  }
  const [evaluation] = await db
    .select()
    .from(evaluations)
    .where(eq(evaluations.trialId, trial.id))
    .orderBy(desc(evaluations.rung))
    .limit(1);

  if (!(await artifacts.pull(trial.checkpointKey))) {
    throw new NotFoundError(
      `the checkpoint of trial ${trialId} (${trial.checkpointKey}) is not in the artifact store ${artifacts.location}`,
      "check ARTIFACT_ROOT: the dashboard must see the workers' artifact store",
    );
  }
  const sourceDir = artifacts.localDir(trial.checkpointKey);
  const latest = LatestView.parse(JSON.parse(await readFile(join(sourceDir, 'latest.json'), 'utf8')));
  const state = CheckpointStateView.parse(
    JSON.parse(await readFile(join(sourceDir, latest.path, 'state.json'), 'utf8')),
  );

  const { metric, direction } = storedObjective(study.config);
  const objective = { metric, direction, value: naturalValue(trial.score, { direction }) };
  const report = evaluation?.report;
  const metrics: VersionMetrics = {
    objective,
    meetsConstraints: trial.meetsConstraints,
    valAccuracy: report?.accuracy ?? trial.valAccuracy,
    valMacroF1: report?.macroAvg.f1 ?? trial.valMacroF1,
    valLoss: evaluation?.loss ?? trial.valLoss,
    recall: Object.fromEntries(Object.entries(report?.perClass ?? {}).map(([c, m]) => [c, m.recall])),
    epochs: state.epoch,
    calibration: state.calibration ?? null,
  };
  return {
    trialId: trial.id,
    sourceDir,
    snapshot: latest.path,
    state,
    metrics,
    testScores: trial.testScores ?? null,
  };
}
