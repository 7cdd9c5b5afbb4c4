import { and, eq, sql } from 'drizzle-orm';
import {
  canonicalPreprocessing,
  trialJobId,
  type DatasetRef,
  type Hyperparameters,
  type TrialJobData,
} from '@braintune/protocol';
import { jsonParam, textArrayParam } from '../db/batch-params.js';
import type { Tx } from '../db/client.js';
import { studies, trials, type trialRungs } from '../db/schema.js';
import { queuedRung } from '../scheduling/rung-record.js';
import type { CompletionReason, Decision, TrialRecord } from '../scheduling/types.js';
import { touch, type CachedStudy } from './state-cache.js';
import { trialSeed } from '../study/prng.js';

/** `<studyId>:<index>`: with the rung this gives BullMQ job ids of the form `<studyId>:<index>:<rung>`. */
export function trialIdOf(studyId: string, index: number): string {
  return `${studyId}:${index}`;
}

/** Artifact keys may not contain ':', so the checkpoint directory is named by the index. */
export function checkpointKeyOf(studyId: string, index: number): string {
  return `checkpoints/${studyId}/trial-${index}`;
}

export interface StudyContext {
  id: string;
  seed: number;
  /** One bundle per (image size, preprocessing); a trial trains on the one matching its hyperparameters. */
  datasets: DatasetRef[];
}

/**
 * The bundle of a trial: same image size and same (canonical) preprocessing. Refs stored
 * before preprocessing existed count as the default preprocessing.
 */
export function datasetFor(
  datasets: readonly DatasetRef[],
  hp: Pick<Hyperparameters, 'imageSize'> & { preprocessing?: Hyperparameters['preprocessing'] },
): DatasetRef {
  const wanted = JSON.stringify(canonicalPreprocessing(hp.preprocessing));
  const match = datasets.find(
    (d) => d.imageSize === hp.imageSize && JSON.stringify(canonicalPreprocessing(d.preprocessing)) === wanted,
  );
  if (!match)
    throw new Error(
      `the study has no dataset bundle for imageSize ${hp.imageSize} with preprocessing ${wanted}`,
    );
  return match;
}

/** The job payload's `dataset` and `testSets` for a trial's hyperparameters (shared with reconcile). */
export function jobDatasetFields(
  datasets: readonly DatasetRef[],
  hp: Parameters<typeof datasetFor>[1],
): Pick<TrialJobData, 'dataset' | 'testSets'> {
  // The test sets travel once, beside the bundle reference rather than inside it.
  const { testSets = [], ...dataset } = datasetFor(datasets, hp);
  return { dataset, testSets };
}

export interface AppliedDecisions {
  jobs: TrialJobData[];
  created: number;
  /** The promoted trials, in decision order. */
  promotedTrialIds: string[];
  stopped: number;
  completed: boolean;
  /** Set with `completed`: why the scheduler completed the study. */
  completionReason?: CompletionReason;
}

type RungSpan = { rung: number; fromEpoch: number; toEpoch: number };

/** Nothing applied yet: what a decision round starts from. */
export function noDecisions(): AppliedDecisions {
  return { jobs: [], created: 0, promotedTrialIds: [], stopped: 0, completed: false };
}

function jobData(
  study: StudyContext,
  trial: { id: string; hyperparameters: TrialJobData['hyperparameters'] },
  index: number,
  rung: RungSpan,
  checkpointKey: string,
): TrialJobData {
  return {
    studyId: study.id,
    trialId: trial.id,
    rung: rung.rung,
    hyperparameters: trial.hyperparameters,
    ...jobDatasetFields(study.datasets, trial.hyperparameters),
    fromEpoch: rung.fromEpoch,
    toEpoch: rung.toEpoch,
    checkpointKey,
    seed: trialSeed(study.seed, index),
  };
}

/** A decision round's rows, gathered while the cache is updated and written in one statement. */
interface DecisionWrites {
  newTrials: (typeof trials.$inferInsert)[];
  newRungs: (typeof trialRungs.$inferInsert)[];
  /** Their jobs are built once the trials' committed checkpoints are read back. */
  promotedTrials: { trial: TrialRecord; rung: RungSpan }[];
  stopped: string[];
  finished: string[];
}

/**
 * Writes the scheduler's decisions in the caller's transaction and mirrors them into the
 * cache. Returns the jobs to enqueue after the commit (their ids make a re-enqueue a no-op).
 * A decision already applied (an idempotent re-decision) changes nothing.
 */
export async function applyDecisions(
  tx: Tx,
  study: StudyContext,
  cached: CachedStudy,
  decisions: Decision[],
): Promise<AppliedDecisions> {
  const out = noDecisions();
  const w: DecisionWrites = { newTrials: [], newRungs: [], promotedTrials: [], stopped: [], finished: [] };
  for (const d of decisions) {
    switch (d.kind) {
      case 'create-trial':
        if (createTrial(study, cached, d.trial, w, out)) out.created++;
        break;
      case 'promote':
        if (promoteTrial(study, cached, d, w)) out.promotedTrialIds.push(d.trialId);
        break;
      case 'stop-trial':
        if (stopTrial(cached, d, w)) out.stopped++;
        break;
      case 'complete-study':
        out.completed = true;
        if (d.reason) out.completionReason = d.reason;
        break;
    }
  }

  const keys = await writeDecisions(tx, w);
  for (const { trial, rung } of w.promotedTrials) {
    const key = keys.get(trial.id);
    if (key === undefined) throw new Error(`promoted trial ${trial.id} has no row`);
    out.jobs.push(jobData(study, trial, trial.index, rung, key));
  }
  if (out.completed) await completeStudy(tx, study.id, cached);
  return out;
}

type DecisionOf<K extends Decision['kind']> = Extract<Decision, { kind: K }>;

/** A new trial with its first rung queued; false if it exists already. */
function createTrial(
  study: StudyContext,
  cached: CachedStudy,
  t: DecisionOf<'create-trial'>['trial'],
  w: DecisionWrites,
  out: AppliedDecisions,
): boolean {
  const id = trialIdOf(study.id, t.index);
  if (cached.byId.has(id)) return false;
  const checkpointKey = checkpointKeyOf(study.id, t.index);
  w.newTrials.push({
    id,
    studyId: study.id,
    index: t.index,
    bracket: t.bracket,
    iteration: t.iteration,
    hyperparameters: t.hyperparameters,
    hpHash: t.hpHash,
    seed: trialSeed(study.seed, t.index),
    checkpointKey,
    status: 'running',
    currentRung: t.firstRung.rung,
    epochsDone: t.firstRung.fromEpoch,
  });
  const jobId = trialJobId(id, t.firstRung.rung);
  w.newRungs.push({ trialId: id, studyId: study.id, jobId, ...t.firstRung });
  const record: TrialRecord = {
    id,
    index: t.index,
    bracket: t.bracket,
    iteration: t.iteration,
    hyperparameters: t.hyperparameters,
    hpHash: t.hpHash,
    status: 'running',
    rungs: [queuedRung(t.firstRung)],
  };
  cached.trials.push(record);
  cached.byId.set(id, record);
  cached.inflight.add(jobId);
  cached.nextIndex = Math.max(cached.nextIndex, t.index + 1);
  out.jobs.push(
    jobData(study, { id, hyperparameters: t.hyperparameters }, t.index, t.firstRung, checkpointKey),
  );
  return true;
}

/** The trial's next rung queued; false if the trial is unknown or has that rung already. */
function promoteTrial(
  study: StudyContext,
  cached: CachedStudy,
  d: DecisionOf<'promote'>,
  w: DecisionWrites,
): boolean {
  const trial = cached.byId.get(d.trialId);
  if (!trial || trial.rungs.some((r) => r.rung === d.rung)) return false;
  const jobId = trialJobId(d.trialId, d.rung);
  const rung = { rung: d.rung, fromEpoch: d.fromEpoch, toEpoch: d.toEpoch };
  w.newRungs.push({ trialId: d.trialId, studyId: study.id, jobId, ...rung });
  w.promotedTrials.push({ trial, rung });
  trial.rungs.push(queuedRung(rung));
  trial.status = 'running';
  touch(cached, trial.id);
  cached.inflight.add(jobId);
  return true;
}

/** A paused trial ends; false unless it is paused. */
function stopTrial(cached: CachedStudy, d: DecisionOf<'stop-trial'>, w: DecisionWrites): boolean {
  const trial = cached.byId.get(d.trialId);
  if (!trial || trial.status !== 'paused') return false;
  // A trial that trained its last planned rung is completed; one that lost or ran out of budget is stopped.
  trial.status = d.reason === 'finished' ? 'completed' : 'stopped';
  touch(cached, trial.id);
  (d.reason === 'finished' ? w.finished : w.stopped).push(d.trialId);
  return true;
}

/** The study completes; trials that ended their last rung without being stopped are the finished ones. */
async function completeStudy(tx: Tx, studyId: string, cached: CachedStudy): Promise<void> {
  await tx
    .update(trials)
    .set({ status: 'completed', updatedAt: new Date() })
    .where(and(eq(trials.studyId, studyId), eq(trials.status, 'paused')));
  for (const t of cached.trials)
    if (t.status === 'paused') {
      t.status = 'completed';
      touch(cached, t.id);
    }
  await tx
    .update(studies)
    .set({ state: 'completed', finishedAt: new Date(), updatedAt: new Date() })
    .where(eq(studies.id, studyId));
}

/**
 * One statement for a decision round: new trials and rungs, promoted, stopped and finished
 * trials (each list travels as one JSON or array parameter, so the statement text never
 * changes with the batch). Building a multi-row insert per round through the query builder
 * cost more CPU than the database spent on it. Returns the promoted trials' committed
 * checkpoints, which their rungs resume from.
 */
async function writeDecisions(tx: Tx, w: DecisionWrites): Promise<Map<string, string>> {
  if (Object.values(w).every((list) => list.length === 0)) return new Map();
  const trialRows = w.newTrials.map((t) => ({
    id: t.id,
    study_id: t.studyId,
    index: t.index,
    bracket: t.bracket ?? null,
    iteration: t.iteration ?? null,
    hyperparameters: t.hyperparameters,
    hp_hash: t.hpHash,
    seed: t.seed,
    checkpoint_key: t.checkpointKey,
    status: t.status,
    current_rung: t.currentRung,
    epochs_done: t.epochsDone,
  }));
  const rungRows = w.newRungs.map((r) => ({
    trial_id: r.trialId,
    study_id: r.studyId,
    job_id: r.jobId,
    rung: r.rung,
    from_epoch: r.fromEpoch,
    to_epoch: r.toEpoch,
  }));
  const promoted = w.promotedTrials.map((p) => ({ id: p.trial.id, rung: p.rung.rung }));
  const res = await tx.execute<{ id: string; checkpoint_key: string }>(sql`
    WITH new_trials AS (
      INSERT INTO trials (id, study_id, index, bracket, iteration, hyperparameters, hp_hash, seed, checkpoint_key,
                          status, current_rung, epochs_done)
      SELECT * FROM jsonb_to_recordset(${jsonParam(trialRows)}) AS t(id text, study_id text, index int, bracket int,
             iteration int, hyperparameters jsonb, hp_hash text, seed bigint, checkpoint_key text, status text,
             current_rung int, epochs_done int)
      RETURNING 1
    ), new_rungs AS (
      INSERT INTO trial_rungs (trial_id, study_id, job_id, rung, from_epoch, to_epoch)
      SELECT * FROM jsonb_to_recordset(${jsonParam(rungRows)}) AS r(trial_id text, study_id text, job_id text, rung int,
             from_epoch int, to_epoch int)
      ON CONFLICT DO NOTHING
      RETURNING 1
    ), stopped AS (
      UPDATE trials SET status = 'stopped', updated_at = now() WHERE id = ANY(${textArrayParam(w.stopped)}) RETURNING 1
    ), finished AS (
      UPDATE trials SET status = 'completed', updated_at = now() WHERE id = ANY(${textArrayParam(w.finished)}) RETURNING 1
    ), promoted AS (
      UPDATE trials SET status = 'running', current_rung = p.rung, updated_at = now()
        FROM jsonb_to_recordset(${jsonParam(promoted)}) AS p(id text, rung int)
       WHERE trials.id = p.id AND trials.id = ANY(${textArrayParam(promoted.map((p) => p.id))})
      RETURNING trials.id, trials.checkpoint_key
    )
    SELECT id, checkpoint_key FROM promoted`);
  return new Map(res.rows.map((r) => [r.id, r.checkpoint_key]));
}
