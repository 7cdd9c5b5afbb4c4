import { and, eq, inArray, sql } from 'drizzle-orm';
import type { WorkerEvent } from '@braintune/protocol';
import type { DbOrTx, Tx } from '../db/client.js';
import { trialRungs, trials, type RungStatusName, type TrialStatusName } from '../db/schema.js';
import type { CachedStudy } from './state-cache.js';
import type { StudyDefinition } from './study-definition.js';

type EventOf<K extends WorkerEvent['kind']> = Extract<WorkerEvent, { kind: K }>;

const OPEN: RungStatusName[] = ['queued', 'running'];

export type Scoring = Pick<StudyDefinition, 'score'>;

/**
 * Records a rung's outcome inside the caller's transaction and mirrors the change into
 * the cached study. Every write is idempotent: rung transitions only apply to open rungs
 * (`WHERE job_id = … AND status IN ('queued','running')`), rows carry unique keys and are
 * inserted with ON CONFLICT DO NOTHING. Returns false when the event changed nothing
 * (a duplicate, or news about a rung that is already closed).
 */
export async function recordEvent(
  tx: Tx,
  event: EventOf<'result'> | EventOf<'failed'>,
  cached: CachedStudy,
  scoring: Scoring,
): Promise<boolean> {
  return event.kind === 'result' ? recordResult(tx, event, cached, scoring) : recordFailed(tx, event, cached);
}

function cachedRung(cached: CachedStudy, trialId: string, rung: number) {
  return cached.byId.get(trialId)?.rungs.find((r) => r.rung === rung);
}

async function recordResult(
  tx: Tx,
  e: EventOf<'result'>,
  cached: CachedStudy,
  scoring: Scoring,
): Promise<boolean> {
  const { result } = e;
  const last = result.history.at(-1);
  const completed = result.outcome === 'completed';
  const { score, meetsConstraints } = completed
    ? scoring.score(result.evaluation, last)
    : { score: null, meetsConstraints: false };
  const rungStatus: RungStatusName = completed
    ? 'completed'
    : result.outcome === 'cancelled'
      ? 'cancelled'
      : 'failed';
  const trialStatus: TrialStatusName = completed
    ? 'paused'
    : result.outcome === 'cancelled'
      ? 'cancelled'
      : 'failed';
  const error =
    result.outcome === 'diverged' ? (result.error ?? 'training diverged (non-finite loss)') : result.error;
  const evaluation = result.evaluation;
  const report = evaluation?.report;
  const valMacroF1 = report?.macroAvg.f1 ?? last?.valMacroF1 ?? null;
  const valAccuracy = report?.accuracy ?? last?.valAccuracy ?? null;
  const valLoss = evaluation?.loss ?? last?.valLoss ?? null;
  // Test-set scores are stored beside the objective; `score` above never reads them.
  const testScores =
    completed && Object.keys(result.testScores).length > 0 ? JSON.stringify(result.testScores) : null;

  // One statement (all or nothing): close the rung if it is still open, and only then add
  // its epochs and evaluation and update the trial. A duplicate finds no open rung and
  // changes nothing. This is also the commit of the winning attempt: the trial's checkpoint
  // becomes the directory of the attempt that produced this result (see attemptCheckpointKey);
  // another attempt at the same rung wrote a directory of its own, which nothing reads.
  const res = await tx.execute<{ changed: number }>(sql`
    WITH closed AS (
      UPDATE trial_rungs
         SET status = ${rungStatus}, score = ${score}, meets_constraints = ${meetsConstraints}, worker_id = ${e.workerId},
             test_scores = ${testScores}::jsonb, error = ${error}, finished_at = to_timestamp(${e.at / 1000})
       WHERE job_id = ${e.jobId} AND status IN ('queued', 'running')
      RETURNING trial_id
    ), epochs AS (
      INSERT INTO epoch_metrics (trial_id, study_id, rung, epoch, loss, accuracy, val_loss, val_accuracy, val_macro_f1,
                                 val_recall, train_images_per_second, duration_ms, worker_id)
      SELECT ${e.trialId}, ${e.studyId}, ${e.rung}, h.epoch, h."loss", h."accuracy", h."valLoss", h."valAccuracy", h."valMacroF1",
             h."valRecall", h."trainImagesPerSecond", h."durationMs", ${e.workerId}
        FROM jsonb_to_recordset(${JSON.stringify(result.history)}::jsonb) AS h(epoch int, "loss" float8, "accuracy" float8,
             "valLoss" float8, "valAccuracy" float8, "valMacroF1" float8, "valRecall" jsonb, "trainImagesPerSecond" float8, "durationMs" float8)
       WHERE EXISTS (SELECT 1 FROM closed)
      ON CONFLICT (trial_id, epoch) DO NOTHING
      RETURNING 1
    ), evaluation AS (
      INSERT INTO evaluations (trial_id, study_id, rung, job_id, epoch, classes, confusion_matrix, report, loss, calibration)
      SELECT ${e.trialId}, ${e.studyId}, ${e.rung}, ${e.jobId}, ${result.epochsDone}, ${JSON.stringify(evaluation?.classes ?? [])}::jsonb,
             ${JSON.stringify(evaluation?.confusionMatrix ?? [])}::jsonb, ${JSON.stringify(report ?? {})}::jsonb, ${evaluation?.loss ?? 0},
             ${result.calibration ? JSON.stringify(result.calibration) : null}::jsonb
       WHERE EXISTS (SELECT 1 FROM closed) AND ${evaluation !== null}
      ON CONFLICT DO NOTHING
      RETURNING 1
    ), trial AS (
      UPDATE trials
         SET status = ${trialStatus}, epochs_done = greatest(epochs_done, ${result.epochsDone}), worker_id = ${e.workerId},
             error = ${error}, checkpoint_key = ${result.checkpointKey},
             score = CASE WHEN ${completed} THEN ${score}::float8 ELSE score END,
             meets_constraints = CASE WHEN ${completed} THEN ${meetsConstraints} ELSE meets_constraints END,
             val_macro_f1 = CASE WHEN ${completed} THEN ${valMacroF1}::float8 ELSE val_macro_f1 END,
             val_accuracy = CASE WHEN ${completed} THEN ${valAccuracy}::float8 ELSE val_accuracy END,
             val_loss = CASE WHEN ${completed} THEN ${valLoss}::float8 ELSE val_loss END,
             test_scores = CASE WHEN ${completed} THEN ${testScores}::jsonb ELSE test_scores END,
             updated_at = now()
       WHERE id = ${e.trialId} AND EXISTS (SELECT 1 FROM closed)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM closed)::int AS changed, (SELECT count(*) FROM epochs)::int AS epochs,
           (SELECT count(*) FROM evaluation)::int AS evaluations, (SELECT count(*) FROM trial)::int AS trials`);
  if ((res.rows[0]?.changed ?? 0) === 0) return false;

  const trial = cached.byId.get(e.trialId);
  const r = cachedRung(cached, e.trialId, e.rung);
  if (r) Object.assign(r, { status: rungStatus, score, meetsConstraints });
  if (trial) trial.status = trialStatus;
  cached.inflight.delete(e.jobId);
  return true;
}

async function recordFailed(tx: Tx, e: EventOf<'failed'>, cached: CachedStudy): Promise<boolean> {
  const closed = await tx
    .update(trialRungs)
    .set({ status: 'failed', workerId: e.workerId, error: e.error, finishedAt: new Date(e.at) })
    .where(and(eq(trialRungs.jobId, e.jobId), inArray(trialRungs.status, OPEN)))
    .returning({ id: trialRungs.id });
  if (closed.length === 0) return false;
  await tx
    .update(trials)
    .set({ status: 'failed', error: e.error, updatedAt: new Date() })
    .where(eq(trials.id, e.trialId));
  const trial = cached.byId.get(e.trialId);
  const r = cachedRung(cached, e.trialId, e.rung);
  if (r) r.status = 'failed';
  if (trial) trial.status = 'failed';
  cached.inflight.delete(e.jobId);
  return true;
}

/**
 * 'started' and 'epoch' events need no scheduling decision, so each is recorded by ONE
 * statement (its own transaction): the rung/trial updates, the epoch row and the
 * notification travel together. Far fewer round trips than a BEGIN … COMMIT block.
 * Returns whether the event changed anything; the caller mirrors it into the cache.
 */
export async function recordProgressEvent(
  db: DbOrTx,
  e: EventOf<'started'> | EventOf<'epoch'>,
  channel: string,
): Promise<boolean> {
  if (e.kind === 'started') {
    const res = await db.execute<{ changed: number }>(sql`
      WITH r AS (
        UPDATE trial_rungs
           SET status = 'running', worker_id = ${e.workerId}, attempts = greatest(attempts, ${e.attempt}),
               started_at = coalesce(started_at, to_timestamp(${e.at / 1000}))
         WHERE job_id = ${e.jobId} AND status IN ('queued', 'running')
        RETURNING trial_id
      ), t AS (
        UPDATE trials SET worker_id = ${e.workerId}, updated_at = now() WHERE id IN (SELECT trial_id FROM r) RETURNING id
      )
      SELECT (SELECT count(*) FROM r)::int AS changed, (SELECT count(*) FROM t)::int AS trials,
             CASE WHEN (SELECT count(*) FROM r) > 0 THEN pg_notify(${channel}, ${e.studyId}) END AS notified`);
    return (res.rows[0]?.changed ?? 0) > 0;
  }
  const m = e.metrics;
  const res = await db.execute<{ changed: number }>(sql`
    WITH ins AS (
      INSERT INTO epoch_metrics (trial_id, study_id, rung, epoch, loss, accuracy, val_loss, val_accuracy, val_macro_f1,
                                 val_recall, train_images_per_second, duration_ms, worker_id)
      VALUES (${e.trialId}, ${e.studyId}, ${e.rung}, ${m.epoch}, ${m.loss}, ${m.accuracy}, ${m.valLoss}, ${m.valAccuracy},
              ${m.valMacroF1}, ${JSON.stringify(m.valRecall)}::jsonb, ${m.trainImagesPerSecond}, ${m.durationMs}, ${e.workerId})
      ON CONFLICT (trial_id, epoch) DO NOTHING
      RETURNING trial_id
    ), t AS (
      UPDATE trials SET epochs_done = greatest(epochs_done, ${m.epoch}), worker_id = ${e.workerId}, updated_at = now()
       WHERE id IN (SELECT trial_id FROM ins) RETURNING id
    ), r AS (
      -- An epoch proves the rung runs even if its 'started' event is still on its way.
      UPDATE trial_rungs SET status = 'running', worker_id = ${e.workerId}, started_at = coalesce(started_at, now())
       WHERE job_id = ${e.jobId} AND status = 'queued' AND EXISTS (SELECT 1 FROM ins) RETURNING id
    )
    SELECT (SELECT count(*) FROM ins)::int AS changed, (SELECT count(*) FROM t)::int AS trials, (SELECT count(*) FROM r)::int AS rungs,
           CASE WHEN (SELECT count(*) FROM ins) > 0 THEN pg_notify(${channel}, ${e.studyId}) END AS notified`);
  return (res.rows[0]?.changed ?? 0) > 0;
}

/** Mirrors a recorded 'started'/'epoch' event into the cached study. */
export function cacheProgress(cached: CachedStudy, e: EventOf<'started'> | EventOf<'epoch'>): void {
  const r = cachedRung(cached, e.trialId, e.rung);
  if (r && r.status === 'queued') r.status = 'running';
}
