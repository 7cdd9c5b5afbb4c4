import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  PREPARE_QUEUE,
  PrepareJobDataSchema,
  type Logger,
  type PrepareJobData,
  type PrepareResult,
} from '@braintune/protocol';
import type { Keepalive } from './keepalive.js';
import type { DatasetPreparer } from './preparer.js';

export interface PrepareConsumerOptions {
  connection: Redis;
  prefix: string;
  preparer: DatasetPreparer;
  /** Preparations run at once by this process (the cluster-wide cap is the queue's global concurrency). */
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** Renews the job's lock from its own thread: hashing and decoding a whole tree can hold the event loop. */
  keepalive: Keepalive;
  log: Logger;
}

/**
 * Consumes PREPARE_QUEUE: builds a study's dataset bundles and returns them as the job's return
 * value (PrepareResult), which stays in Redis until the coordinator reads it, so the answer
 * survives a coordinator that is down or restarting.
 */
export function startPrepareConsumer(options: PrepareConsumerOptions): Worker<PrepareJobData, PrepareResult> {
  const { keepalive, log } = options;
  const lockKey = (jobId: string) => `${options.prefix}:${PREPARE_QUEUE}:${jobId}:lock`;
  const processor = async (
    job: Job<PrepareJobData, PrepareResult>,
    token?: string,
  ): Promise<PrepareResult> => {
    const parsed = PrepareJobDataSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(
        `invalid prepare job data: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
      );
    const jobId = job.id ?? parsed.data.studyId;
    const jobLog = log.child({ jobId, studyId: parsed.data.studyId });
    if (token) keepalive.holdLock(jobId, lockKey(jobId), token, options.lockDurationMs);
    try {
      jobLog.info(
        { bundles: parsed.data.bundles.length, testSets: parsed.data.testSets.length },
        'preparing data sets',
      );
      const result = await options.preparer.prepare(parsed.data, jobLog);
      if (result.ok) jobLog.info({ bundles: result.bundles.length }, 'data sets prepared');
      else jobLog.warn({ error: result.error }, 'data set refused');
      return result;
    } catch (err) {
      jobLog.error(
        { err: err instanceof Error ? err.message : String(err), attempt: job.attemptsMade + 1 },
        'preparation failed',
      );
      throw err;
    } finally {
      keepalive.releaseLock(jobId);
    }
  };
  const worker = new Worker<PrepareJobData, PrepareResult>(PREPARE_QUEUE, processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    // A preparation whose worker died starts over elsewhere (finished bundles are reused).
    maxStalledCount: 3,
  });
  worker.on('error', (err) => log.error({ err: err.message }, 'prepare consumer error'));
  return worker;
}
