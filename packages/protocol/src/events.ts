import { z } from 'zod';
import { EpochMetricsSchema } from './evaluation.js';
import { TrialRungResultSchema } from './jobs.js';

/**
 * What workers tell the coordinator. Workers never touch Postgres: every report goes onto
 * the durable RESULTS_QUEUE (BullMQ, so it survives a coordinator that is down) and the
 * coordinator records it in one idempotent transaction keyed by the trial job id.
 */
const RungRef = {
  studyId: z.string().min(1),
  trialId: z.string().min(1),
  rung: z.number().int().min(0),
  /** trialJobId(trialId, rung): the idempotency key of everything below. */
  jobId: z.string().min(1),
  workerId: z.string().min(1),
  /** Epoch milliseconds when the worker produced the event. */
  at: z.number(),
};

export const WorkerEventSchema = z.discriminatedUnion('kind', [
  /** A worker took the rung (first attempt or a retry). */
  z.object({ kind: z.literal('started'), ...RungRef, attempt: z.number().int().min(1) }),
  /** One finished, checkpointed epoch. */
  z.object({ kind: z.literal('epoch'), ...RungRef, metrics: EpochMetricsSchema }),
  /** The rung ended (completed, diverged or cancelled) with its evaluation. */
  z.object({ kind: z.literal('result'), ...RungRef, result: TrialRungResultSchema }),
  /** The rung's job failed its last attempt. */
  z.object({ kind: z.literal('failed'), ...RungRef, error: z.string() }),
]);
export type WorkerEvent = z.infer<typeof WorkerEventSchema>;

/** Id of the results-queue job carrying an event: re-sending the same event is a no-op. */
export function workerEventJobId(event: WorkerEvent): string {
  const safe = event.jobId.replaceAll(':', '_');
  switch (event.kind) {
    case 'epoch':
      return `epoch-${safe}-${event.metrics.epoch}`;
    case 'started':
      return `started-${safe}-${event.attempt}-${event.workerId}`;
    default:
      return `${event.kind}-${safe}`;
  }
}

/**
 * BullMQ options of a results-queue job. Rung outcomes outrank progress reports (BullMQ:
 * 1 is the highest priority), so promotions are not delayed behind a backlog of epochs.
 * The coordinator retries a failed recording with a capped back-off ('capped' strategy).
 */
export function workerEventJobOptions(event: WorkerEvent) {
  return {
    jobId: workerEventJobId(event),
    priority: event.kind === 'result' || event.kind === 'failed' ? 1 : event.kind === 'started' ? 5 : 10,
    attempts: 1000,
    backoff: { type: 'capped' },
    removeOnComplete: { count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** What a worker publishes about itself (heartbeat), read by the coordinator and the dashboard. */
export const WorkerInfoSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  backend: z.string(),
  device: z.string(),
  concurrency: z.number().int().min(1),
  startedAt: z.number(),
  lastHeartbeat: z.number(),
  /** Trial ids this worker is training right now. */
  currentTrials: z.array(z.string()),
  currentJobs: z.array(z.string()),
  /** Training throughput of the last finished epoch. */
  imagesPerSecond: z.number().nullable(),
});
export type WorkerInfo = z.infer<typeof WorkerInfoSchema>;

/** A worker missing heartbeats for this long is considered gone. */
export const WORKER_TTL_MS = 15_000;

/**
 * Redis keys shared by workers and the coordinator besides BullMQ's own, under the same
 * prefix as the queues so that tests (and several clusters on one Redis) stay isolated.
 */
export const redisKeys = {
  /** Hash workerId → WorkerInfo JSON. */
  workers: (prefix: string) => `${prefix}:braintune:workers`,
  /** Set when a study is cancelled; running rungs stop after their epoch. */
  cancelled: (prefix: string, studyId: string) => `${prefix}:braintune:cancelled:${studyId}`,
};
