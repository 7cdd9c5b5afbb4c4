import { z } from 'zod';
import { EpochMetricsSchema } from './evaluation.js';
import { TrialRungResultSchema } from './jobs.js';

/**
 * What workers tell the coordinator. Workers never touch Postgres: every report goes onto
 * the durable results streams (results-stream.ts; they survive a coordinator that is down) and
 * the coordinator records it in an idempotent transaction keyed by the trial job id.
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
