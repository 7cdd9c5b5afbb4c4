import { sql } from 'drizzle-orm';
import type { WorkerEvent } from '@braintune/protocol';
import { jsonParam, textArrayParam } from '../db/batch-params.js';
import type { Tx } from '../db/client.js';
import type { RungStatusName, TrialStatusName } from '../db/schema.js';
import { touch, type CachedStudy } from './state-cache.js';
import type { StudyDefinition } from './study-definition.js';

type EventOf<K extends WorkerEvent['kind']> = Extract<WorkerEvent, { kind: K }>;
export type ProgressEvent = EventOf<'started'> | EventOf<'epoch'>;
export type ClosingEvent = EventOf<'result'> | EventOf<'failed'>;

export type Scoring = Pick<StudyDefinition, 'score'>;

/*
 * Each function records a whole batch of events in ONE statement inside the caller's
 * transaction: the batch travels as a single JSON parameter (so the statement text never
 * changes with the batch size) and is unpacked by jsonb_to_recordset. Every write is
 * idempotent: rung transitions only apply to open rungs (`status IN ('queued','running')`),
 * rows carry unique keys and are inserted with ON CONFLICT DO NOTHING. Each function returns
 * the events that changed something; the others were duplicates or news about closed rungs.
 * Callers pass events already deduplicated by their key (see ResultsIntake).
 */

function idsOf(events: readonly { jobId: string; trialId: string }[]) {
  return { jobIds: events.map((e) => e.jobId), trialIds: events.map((e) => e.trialId) };
}

/** Marks rungs running; a retry's 'started' raises the attempt count. Key: jobId. */
export async function recordStarted(tx: Tx, events: EventOf<'started'>[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = events.map((e) => ({
    job_id: e.jobId,
    worker_id: e.workerId,
    attempt: e.attempt,
    at_ms: e.at,
  }));
  const { jobIds, trialIds } = idsOf(events);
  const res = await tx.execute<{ job_id: string }>(sql`
    WITH ev AS (
      SELECT * FROM jsonb_to_recordset(${jsonParam(rows)}) AS e(job_id text, worker_id text, attempt int, at_ms float8)
    ), r AS (
      -- An open rung is running now. A closed one keeps its outcome but still gets its start
      -- time and attempt: rung outcomes have a lane of their own, so under a backlog a result
      -- can be recorded before the 'started' that preceded it.
      UPDATE trial_rungs r
         SET status = CASE WHEN r.status IN ('queued', 'running') THEN 'running' ELSE r.status END,
             worker_id = CASE WHEN r.status IN ('queued', 'running') THEN ev.worker_id ELSE r.worker_id END,
             attempts = greatest(r.attempts, ev.attempt),
             started_at = coalesce(r.started_at, to_timestamp(ev.at_ms / 1000))
        FROM ev
       WHERE r.job_id = ev.job_id AND r.job_id = ANY(${textArrayParam(jobIds)})
         AND (r.status IN ('queued', 'running') OR r.started_at IS NULL)
      RETURNING r.job_id, r.trial_id, ev.worker_id, r.status = 'running' AS open
    ), t AS (
      UPDATE trials SET worker_id = r.worker_id, updated_at = now()
        FROM r WHERE r.open AND trials.id = r.trial_id AND trials.id = ANY(${textArrayParam(trialIds)})
      RETURNING 1
    )
    SELECT job_id FROM r WHERE open`);
  return new Set(res.rows.map((r) => r.job_id));
}

/** Adds finished epochs (and proves their rungs run). Key: `${trialId}/${epoch}`. */
export async function recordEpochs(tx: Tx, events: EventOf<'epoch'>[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = events.map((e) => ({
    trial_id: e.trialId,
    study_id: e.studyId,
    rung: e.rung,
    job_id: e.jobId,
    worker_id: e.workerId,
    ...e.metrics,
  }));
  const { jobIds, trialIds } = idsOf(events);
  const res = await tx.execute<{ trial_id: string; epoch: number }>(sql`
    WITH ev AS (
      SELECT * FROM jsonb_to_recordset(${jsonParam(rows)}) AS e(trial_id text, study_id text, rung int, job_id text, worker_id text,
             epoch int, "loss" float8, "accuracy" float8, "valLoss" float8, "valAccuracy" float8, "valMacroF1" float8,
             "valRecall" jsonb, "trainImagesPerSecond" float8, "durationMs" float8)
    ), ins AS (
      INSERT INTO epoch_metrics (trial_id, study_id, rung, epoch, loss, accuracy, val_loss, val_accuracy, val_macro_f1,
                                 val_recall, train_images_per_second, duration_ms, worker_id)
      SELECT trial_id, study_id, rung, epoch, "loss", "accuracy", "valLoss", "valAccuracy", "valMacroF1", "valRecall",
             "trainImagesPerSecond", "durationMs", worker_id
        FROM ev
      ON CONFLICT (trial_id, epoch) DO NOTHING
      RETURNING trial_id, epoch
    ), won AS (
      SELECT ev.* FROM ev JOIN ins USING (trial_id, epoch)
    ), t AS (
      UPDATE trials SET epochs_done = greatest(epochs_done, w.epoch), worker_id = w.worker_id, updated_at = now()
        FROM (SELECT DISTINCT ON (trial_id) trial_id, epoch, worker_id FROM won ORDER BY trial_id, epoch DESC) w
       WHERE trials.id = w.trial_id AND trials.id = ANY(${textArrayParam(trialIds)})
      RETURNING 1
    ), r AS (
      -- An epoch proves the rung runs even if its 'started' event is still on its way.
      UPDATE trial_rungs r SET status = 'running', worker_id = w.worker_id, started_at = coalesce(r.started_at, now())
        FROM (SELECT DISTINCT ON (job_id) job_id, worker_id FROM won) w
       WHERE r.job_id = w.job_id AND r.job_id = ANY(${textArrayParam(jobIds)}) AND r.status = 'queued'
      RETURNING 1
    )
    SELECT trial_id, epoch FROM ins`);
  return new Set(res.rows.map((r) => `${r.trial_id}/${r.epoch}`));
}

/** A rung whose job failed its last attempt: the rung and its trial fail. Key: jobId. */
export async function recordFailures(tx: Tx, events: EventOf<'failed'>[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = events.map((e) => ({ job_id: e.jobId, worker_id: e.workerId, error: e.error, at_ms: e.at }));
  const { jobIds, trialIds } = idsOf(events);
  const res = await tx.execute<{ job_id: string }>(sql`
    WITH ev AS (
      SELECT * FROM jsonb_to_recordset(${jsonParam(rows)}) AS e(job_id text, worker_id text, error text, at_ms float8)
    ), closed AS (
      UPDATE trial_rungs r
         SET status = 'failed', worker_id = ev.worker_id, error = ev.error, finished_at = to_timestamp(ev.at_ms / 1000)
        FROM ev
       WHERE r.job_id = ev.job_id AND r.job_id = ANY(${textArrayParam(jobIds)}) AND r.status IN ('queued', 'running')
      RETURNING r.job_id, r.trial_id, ev.error
    ), t AS (
      UPDATE trials SET status = 'failed', error = closed.error, updated_at = now()
        FROM closed WHERE trials.id = closed.trial_id AND trials.id = ANY(${textArrayParam(trialIds)})
      RETURNING 1
    )
    SELECT job_id FROM closed`);
  return new Set(res.rows.map((r) => r.job_id));
}

/** How a finished rung is written: its statuses and the figures stored beside it. */
function resultRow(e: EventOf<'result'>, scoring: Scoring) {
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
  return {
    rungStatus,
    trialStatus,
    score,
    meetsConstraints,
    sql: {
      job_id: e.jobId,
      trial_id: e.trialId,
      study_id: e.studyId,
      rung: e.rung,
      worker_id: e.workerId,
      at_ms: e.at,
      rung_status: rungStatus,
      trial_status: trialStatus,
      completed,
      score,
      meets: meetsConstraints,
      error,
      epochs_done: result.epochsDone,
      val_macro_f1: report?.macroAvg.f1 ?? last?.valMacroF1 ?? null,
      val_accuracy: report?.accuracy ?? last?.valAccuracy ?? null,
      val_loss: evaluation?.loss ?? last?.valLoss ?? null,
      // Test-set scores are stored beside the objective; `score` above never reads them.
      test_scores: completed && Object.keys(result.testScores).length > 0 ? result.testScores : null,
      pointing: completed ? result.pointing : null,
      history: result.history,
      has_evaluation: evaluation !== null,
      eval_classes: evaluation?.classes ?? [],
      eval_confusion: evaluation?.confusionMatrix ?? [],
      eval_report: report ?? {},
      eval_loss: evaluation?.loss ?? 0,
      calibration: result.calibration ?? null,
      checkpoint_key: result.checkpointKey,
    },
  };
}

export type RecordedResult = ReturnType<typeof resultRow> & {
  /**
   * Checkpoints nothing reads once the commit is in: the trial's checkpoint before this result
   * replaced it (the trial resumes from, and is promoted with, the new one) and the directories
   * of the rung's earlier attempts that this result names (losingAttempts).
   */
  superseded: string[];
};

/**
 * The earlier attempts a result that closed its rung names, as far as they are directories of
 * that rung's attempts beside its own (`<trial folder>/rung-<r>-<attempt>`): only one attempt
 * closes a rung, so the others are read by nothing. Any other key a result might name is left.
 */
function losingAttempts(result: EventOf<'result'>['result']): string[] {
  const own = result.checkpointKey;
  const attempts = `${own.slice(0, own.lastIndexOf('/') + 1)}rung-${result.rung}-`;
  return result.earlierAttemptKeys.filter(
    (key) => key !== own && key.startsWith(attempts) && !key.slice(attempts.length).includes('/'),
  );
}

/**
 * Finished rungs, all or nothing per rung: close the rung if it is still open, and only then
 * add its epochs and evaluation and update the trial. A duplicate finds no open rung and
 * changes nothing. Key: jobId. This is also the commit of the winning attempt: the trial's
 * checkpoint becomes the directory of the attempt that produced the result (attemptCheckpointKey);
 * another attempt at the same rung wrote a directory of its own, which nothing reads (those the
 * result names are returned for deletion: RecordedResult.superseded).
 * `startedOf` holds the batch's 'started' events of these rungs, folded into the same update
 * (short rungs report both at once: one statement and one row version less per rung).
 */
export async function recordResults(
  tx: Tx,
  events: EventOf<'result'>[],
  scoring: (studyId: string) => Scoring,
  startedOf: ReadonlyMap<string, EventOf<'started'>> = new Map(),
): Promise<Map<string, RecordedResult>> {
  if (events.length === 0) return new Map();
  const rows = new Map(events.map((e) => [e.jobId, resultRow(e, scoring(e.studyId))]));
  const params = [...rows.values()].map((r) => {
    const started = startedOf.get(r.sql.job_id);
    return { ...r.sql, started_ms: started?.at ?? null, attempt: started?.attempt ?? null };
  });
  const { jobIds, trialIds } = idsOf(events);
  const res = await tx.execute<{ job_id: string; superseded: string | null }>(sql`
    WITH ev AS (
      SELECT * FROM jsonb_to_recordset(${jsonParam(params)}) AS e(
             job_id text, trial_id text, study_id text, rung int, worker_id text, at_ms float8, rung_status text,
             trial_status text, completed boolean, score float8, meets boolean, error text, epochs_done int,
             val_macro_f1 float8, val_accuracy float8, val_loss float8, test_scores jsonb, pointing jsonb, history jsonb,
             has_evaluation boolean, eval_classes jsonb, eval_confusion jsonb, eval_report jsonb, eval_loss float8,
             calibration jsonb, checkpoint_key text, started_ms float8, attempt int)
    ), closed AS (
      -- greatest() skips NULL: a result without a 'started' beside it leaves the attempt count.
      UPDATE trial_rungs r
         SET status = ev.rung_status, score = ev.score, meets_constraints = ev.meets, worker_id = ev.worker_id,
             test_scores = ev.test_scores, pointing = ev.pointing, error = ev.error, finished_at = to_timestamp(ev.at_ms / 1000),
             attempts = greatest(r.attempts, ev.attempt), started_at = coalesce(r.started_at, to_timestamp(ev.started_ms / 1000))
        FROM ev
       WHERE r.job_id = ev.job_id AND r.job_id = ANY(${textArrayParam(jobIds)}) AND r.status IN ('queued', 'running')
      RETURNING r.job_id
    ), late_start AS (
      -- A 'started' beside a duplicate result (its rung closed before): as recordStarted would.
      UPDATE trial_rungs r
         SET attempts = greatest(r.attempts, ev.attempt), started_at = to_timestamp(ev.started_ms / 1000)
        FROM ev
       WHERE r.job_id = ev.job_id AND r.job_id = ANY(${textArrayParam(jobIds)}) AND ev.started_ms IS NOT NULL
         AND r.status NOT IN ('queued', 'running') AND r.started_at IS NULL
      RETURNING 1
    ), won AS (
      SELECT ev.* FROM ev JOIN closed USING (job_id)
    ), before AS (
      -- A sibling of the UPDATE below: it reads the trials as they were before this statement.
      SELECT id, checkpoint_key FROM trials WHERE id = ANY(${textArrayParam(trialIds)})
    ), epochs AS (
      INSERT INTO epoch_metrics (trial_id, study_id, rung, epoch, loss, accuracy, val_loss, val_accuracy, val_macro_f1,
                                 val_recall, train_images_per_second, duration_ms, worker_id)
      SELECT w.trial_id, w.study_id, w.rung, h.epoch, h."loss", h."accuracy", h."valLoss", h."valAccuracy", h."valMacroF1",
             h."valRecall", h."trainImagesPerSecond", h."durationMs", w.worker_id
        FROM won w CROSS JOIN LATERAL jsonb_to_recordset(w.history) AS h(epoch int, "loss" float8, "accuracy" float8,
             "valLoss" float8, "valAccuracy" float8, "valMacroF1" float8, "valRecall" jsonb, "trainImagesPerSecond" float8,
             "durationMs" float8)
      ON CONFLICT (trial_id, epoch) DO NOTHING
      RETURNING 1
    ), evaluation AS (
      INSERT INTO evaluations (trial_id, study_id, rung, job_id, epoch, classes, confusion_matrix, report, loss, calibration)
      SELECT trial_id, study_id, rung, job_id, epochs_done, eval_classes, eval_confusion, eval_report, eval_loss, calibration
        FROM won WHERE has_evaluation
      ON CONFLICT DO NOTHING
      RETURNING 1
    ), trial AS (
      UPDATE trials t
         SET status = w.trial_status, epochs_done = greatest(t.epochs_done, w.epochs_done), worker_id = w.worker_id,
             error = w.error, checkpoint_key = w.checkpoint_key,
             score = CASE WHEN w.completed THEN w.score ELSE t.score END,
             meets_constraints = CASE WHEN w.completed THEN w.meets ELSE t.meets_constraints END,
             val_macro_f1 = CASE WHEN w.completed THEN w.val_macro_f1 ELSE t.val_macro_f1 END,
             val_accuracy = CASE WHEN w.completed THEN w.val_accuracy ELSE t.val_accuracy END,
             val_loss = CASE WHEN w.completed THEN w.val_loss ELSE t.val_loss END,
             test_scores = CASE WHEN w.completed THEN w.test_scores ELSE t.test_scores END,
             pointing = CASE WHEN w.completed THEN w.pointing ELSE t.pointing END,
             updated_at = now()
        FROM won w
       WHERE t.id = w.trial_id AND t.id = ANY(${textArrayParam(trialIds)})
      RETURNING 1
    )
    -- The old checkpoint is superseded unless it is the new one or holds it: a trial's first
    -- key is the folder its attempts' directories live in.
    SELECT won.job_id,
           CASE WHEN before.checkpoint_key = won.checkpoint_key
                  OR starts_with(won.checkpoint_key, before.checkpoint_key || '/') THEN NULL
                ELSE before.checkpoint_key END AS superseded
      FROM won LEFT JOIN before ON before.id = won.trial_id`);
  const eventOf = new Map(events.map((e) => [e.jobId, e]));
  const changed = new Map<string, RecordedResult>();
  for (const { job_id, superseded } of res.rows)
    changed.set(job_id, {
      ...rows.get(job_id)!,
      superseded: [...(superseded ? [superseded] : []), ...losingAttempts(eventOf.get(job_id)!.result)],
    });
  return changed;
}

function cachedRung(cached: CachedStudy, trialId: string, rung: number) {
  return cached.byId.get(trialId)?.rungs.find((r) => r.rung === rung);
}

/** Mirrors a recorded 'started'/'epoch' event into the cached study. */
export function cacheProgress(cached: CachedStudy, e: ProgressEvent): void {
  const r = cachedRung(cached, e.trialId, e.rung);
  if (r && r.status === 'queued') {
    r.status = 'running';
    touch(cached, e.trialId);
  }
}

/** Mirrors a recorded rung outcome into the cached study. */
export function cacheClosing(cached: CachedStudy, e: ClosingEvent, row: RecordedResult | null): void {
  const trial = cached.byId.get(e.trialId);
  const r = cachedRung(cached, e.trialId, e.rung);
  if (row) {
    if (r)
      Object.assign(r, { status: row.rungStatus, score: row.score, meetsConstraints: row.meetsConstraints });
    if (trial) trial.status = row.trialStatus;
  } else {
    if (r) r.status = 'failed';
    if (trial) trial.status = 'failed';
  }
  touch(cached, e.trialId);
  cached.inflight.delete(e.jobId);
}
