import { and, eq, inArray } from 'drizzle-orm';
import { TrialRungResultSchema, type TrialJobData, type TrialRungResult } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { studies, trialRungs, trials } from '../db/schema.js';
import type { TrialQueue } from '../queue/trial-queue.js';
import { jobDatasetFields } from '../service/decisions.js';

export interface OpenRung {
  jobId: string;
  trialId: string;
  rung: number;
  status: 'queued' | 'running';
  data: TrialJobData | null;
}

/** What Redis says about every rung Postgres considers queued or running. */
export interface ReconcileReport {
  /** No job in Redis (coordinator crashed before enqueueing, or Redis lost it): enqueue again. */
  missing: OpenRung[];
  /** The job finished but its result never reached Postgres: record its return value. */
  finished: { rung: OpenRung; result: TrialRungResult }[];
  /** The job used up its attempts and the failure never reached Postgres. */
  failed: { rung: OpenRung; reason: string; workerId: string | null }[];
  /** Jobs Redis holds in a live state (waiting, prioritized, delayed, active). */
  healthy: number;
}

/**
 * Compares Postgres (the truth about which trial rungs must run) with Redis (the work in
 * flight) for one study. Pure inspection: the coordinator applies the report under the
 * study's lock, so every open rung ends up queued exactly once.
 */
export async function inspectStudy(
  db: DbOrTx,
  queue: TrialQueue,
  studyId: string,
  graceMs = 5000,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { missing: [], finished: [], failed: [], healthy: 0 };
  for (const open of await openRungsOf(db, studyId)) {
    const state = await queue.state(open.jobId);
    if (state === 'unknown') {
      report.missing.push(open);
    } else if (state === 'completed') {
      const job = await queue.getJob(open.jobId);
      const parsed = TrialRungResultSchema.safeParse(job?.returnvalue);
      // A job that just finished has its result on the results streams: give the consumer a moment.
      const recent = (job?.finishedOn ?? 0) > Date.now() - graceMs;
      if (parsed.success && !recent) report.finished.push({ rung: open, result: parsed.data });
      else report.healthy++;
    } else if (state === 'failed') {
      const job = await queue.getJob(open.jobId);
      const attempts = job?.opts.attempts ?? 1;
      // A failed job with attempts left is about to be retried by BullMQ.
      if (job && job.attemptsMade < attempts) report.healthy++;
      else report.failed.push({ rung: open, reason: job?.failedReason ?? 'job failed', workerId: null });
    } else {
      report.healthy++;
    }
  }
  return report;
}

/** The study's queued and running rungs, each with the job that would queue it (none before preparation). */
async function openRungsOf(db: DbOrTx, studyId: string): Promise<OpenRung[]> {
  const [study] = await db
    .select({ datasets: studies.datasets })
    .from(studies)
    .where(eq(studies.id, studyId));
  const datasets = study?.datasets && study.datasets.length > 0 ? study.datasets : null;
  const rows = await db
    .select({
      jobId: trialRungs.jobId,
      trialId: trialRungs.trialId,
      rung: trialRungs.rung,
      status: trialRungs.status,
      fromEpoch: trialRungs.fromEpoch,
      toEpoch: trialRungs.toEpoch,
      hyperparameters: trials.hyperparameters,
      checkpointKey: trials.checkpointKey,
      seed: trials.seed,
    })
    .from(trialRungs)
    .innerJoin(trials, eq(trials.id, trialRungs.trialId))
    .where(and(eq(trialRungs.studyId, studyId), inArray(trialRungs.status, ['queued', 'running'])));
  return rows.map((row) => ({
    jobId: row.jobId,
    trialId: row.trialId,
    rung: row.rung,
    status: row.status as OpenRung['status'],
    data: datasets
      ? {
          studyId,
          trialId: row.trialId,
          rung: row.rung,
          hyperparameters: row.hyperparameters,
          ...jobDatasetFields(datasets, row.hyperparameters),
          fromEpoch: row.fromEpoch,
          toEpoch: row.toEpoch,
          checkpointKey: row.checkpointKey,
          seed: row.seed,
        }
      : null,
  }));
}
