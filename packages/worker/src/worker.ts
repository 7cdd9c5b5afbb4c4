import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  TRIAL_QUEUE,
  TrialJobDataSchema,
  TrialProgressSchema,
  attemptCheckpointKey,
  createLogger,
  logConnectionState,
  publishWorkerEvent,
  redisKeys,
  trialJobId,
  type Logger,
  type TrialJobData,
  type TrialProgress,
  type TrialRungResult,
  type WorkerEvent,
  type WorkerInfo,
} from '@braintune/protocol';
import { Keepalive } from './keepalive.js';
import { startPrepareConsumer } from './prepare-consumer.js';
import type { DatasetPreparer } from './preparer.js';
import type { RungTrainer } from './trainer.js';

export interface WorkerOptions {
  redisUrl: string;
  /** Key prefix shared with the coordinator. */
  prefix: string;
  trainer: RungTrainer;
  /** Rungs trained at once by this process (default 1: one process per core is the usual layout). */
  concurrency?: number;
  /** Given: this process also prepares studies' data sets (PREPARE_QUEUE). */
  preparer?: DatasetPreparer;
  /** Preparations at once in this process (default 1: each decodes a whole tree). */
  preparations?: number;
  /**
   * How long a job stays locked without renewal (default 30 s). Locks are renewed from a
   * separate thread (see keepalive.ts), so epochs may take longer than this. A worker killed
   * with SIGKILL is noticed after at most lockDuration + stalledInterval.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  heartbeatMs?: number;
  logger?: Logger;
  workerId?: string;
}

export interface RunningWorker {
  readonly id: string;
  /**
   * Graceful stop (SIGTERM): running rungs stop after the epoch in progress (which is
   * checkpointed), their jobs go back to the queue for another worker; a preparation in
   * progress finishes; then it resolves.
   */
  close(): Promise<void>;
}

type StopReason = 'terminating' | 'cancelled' | 'lost-lock';

/** An attempt that noticed between epochs that another worker holds its job now. */
class LostLockError extends Error {}

/** Earlier attempts of a job a new attempt looks at (each is a checkpoint pulled and read). */
const ATTEMPTS_REMEMBERED = 3;

/**
 * A worker process: pulls trial-rung jobs, trains them through the RungTrainer, reports
 * every epoch (job progress and a durable event for the coordinator) and the rung result.
 * With a preparer it also builds studies' dataset bundles (prepare-consumer.ts).
 * It needs Redis and the artifact store, never Postgres.
 */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const log = options.logger ?? createLogger('worker');
  const id = options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const concurrency = options.concurrency ?? 1;
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  logConnectionState(redis, 'Redis', options.redisUrl, log);
  const { backend, device } = await options.trainer.init();
  const startedAt = Date.now();
  const current = new Map<string, TrialJobData>();
  /** Per running job: why it must stop after the epoch in progress (set from callbacks and the keepalive thread). */
  const stopFlags = new Map<string, { stop: StopReason | null }>();
  let imagesPerSecond: number | null = null;
  let terminating = false;
  const lockDurationMs = options.lockDurationMs ?? 30_000;
  const keepalive = new Keepalive({
    redisUrl: options.redisUrl,
    workersKey: redisKeys.workers(options.prefix),
    // Renew locks well before they expire, even if the heartbeat interval is longer.
    intervalMs: Math.min(options.heartbeatMs ?? 3000, Math.floor(lockDurationMs / 3)),
    onLostLock: (jobId) => {
      const flags = stopFlags.get(jobId);
      if (flags) flags.stop = 'lost-lock';
    },
  });

  const publish = (event: WorkerEvent): Promise<void> => publishWorkerEvent(redis, options.prefix, event);

  /** Hands the current self-description to the keepalive thread, which heartbeats it. */
  const heartbeat = async (): Promise<void> => {
    const info: WorkerInfo = {
      id,
      host: hostname(),
      pid: process.pid,
      backend,
      device,
      concurrency,
      startedAt,
      lastHeartbeat: Date.now(),
      currentTrials: [...current.values()].map((j) => j.trialId),
      currentJobs: [...current.values()].map((j) => trialJobId(j.trialId, j.rung)),
      imagesPerSecond,
    };
    keepalive.publish(info);
  };

  const lockKey = (jobId: string) => `${options.prefix}:${TRIAL_QUEUE}:${jobId}:lock`;
  /** Whether the job's lock is no longer this attempt's (an unanswered Redis is not proof). */
  const lostLock = async (jobId: string, token: string | undefined) =>
    token !== undefined && (await redis.get(lockKey(jobId)).catch(() => token)) !== token;

  const processor = async (
    job: Job<TrialJobData, TrialRungResult>,
    token?: string,
  ): Promise<TrialRungResult> => {
    const parsed = TrialJobDataSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(
        `invalid job data: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
      );
    const data = parsed.data;
    const jobId = job.id ?? trialJobId(data.trialId, data.rung);
    const ref = { studyId: data.studyId, trialId: data.trialId, rung: data.rung, jobId, workerId: id };
    // A checkpoint directory of this attempt's own; a redelivered job resumes from its earlier
    // attempts' (named in the job's progress) without ever writing them.
    const attemptKey = attemptCheckpointKey(
      data.studyId,
      data.trialId,
      data.rung,
      randomBytes(4).toString('hex'),
    );
    const earlier = TrialProgressSchema.safeParse(job.progress);
    const earlierAttemptKeys = earlier.success ? earlier.data.attempts.slice(-ATTEMPTS_REMEMBERED) : [];
    const attemptKeys = [...earlierAttemptKeys, attemptKey];
    const jobLog = log.child({ jobId, fromEpoch: data.fromEpoch, toEpoch: data.toEpoch, attemptKey });
    // An object, not a let: it is changed inside callbacks, which flow analysis would not see.
    const flags: { stop: StopReason | null } = {
      stop: (await redis.exists(redisKeys.cancelled(options.prefix, data.studyId))) ? 'cancelled' : null,
    };
    stopFlags.set(jobId, flags);
    if (token) keepalive.holdLock(jobId, lockKey(jobId), token, lockDurationMs);

    current.set(jobId, data);
    void heartbeat().catch(() => undefined);
    try {
      // Named before any training, so an attempt killed at any moment is found by the next one.
      await job.updateProgress({ workerId: id, attempts: attemptKeys } satisfies TrialProgress);
      // A rung of a study cancelled before it began never starts: the trainer stops at once and
      // the rung is reported cancelled (it did not run, so it gets no start time).
      if (flags.stop !== 'cancelled') {
        await publish({ kind: 'started', ...ref, at: Date.now(), attempt: job.attemptsMade + 1 });
        jobLog.info({ attempt: job.attemptsMade + 1 }, 'rung started');
      }
      const out = await options.trainer.run({
        job: data,
        attemptKey,
        earlierAttemptKeys,
        logger: jobLog,
        shouldStop: () => terminating || flags.stop !== null,
        onEpoch: async (metrics) => {
          imagesPerSecond = metrics.trainImagesPerSecond;
          await publish({ kind: 'epoch', ...ref, at: Date.now(), metrics });
          await job.updateProgress({
            workerId: id,
            epoch: metrics,
            attempts: attemptKeys,
          } satisfies TrialProgress);
          // Between epochs: has the study been cancelled, or has someone else taken the job
          // (its lock expired, or Redis lost it and the coordinator queued it again)?
          if (await redis.exists(redisKeys.cancelled(options.prefix, data.studyId)))
            flags.stop ??= 'cancelled';
          if (await lostLock(jobId, token)) flags.stop = 'lost-lock';
        },
      });
      if (flags.stop === 'lost-lock') {
        throw new LostLockError(
          `lost the lock of ${jobId} after epoch ${out.epochsDone}; another worker owns it now`,
        );
      }
      if (terminating && flags.stop === null && out.outcome === 'cancelled') {
        // SIGTERM: the epoch in progress is checkpointed; give the job back so another worker resumes it.
        jobLog.info({ epochsDone: out.epochsDone }, 'handing the rung back (shutting down)');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const result: TrialRungResult = {
        trialId: data.trialId,
        rung: data.rung,
        workerId: id,
        outcome: out.outcome,
        epochsDone: out.epochsDone,
        checkpointKey: attemptKey,
        earlierAttemptKeys,
        history: out.history,
        evaluation: out.evaluation,
        calibration: out.calibration ?? null,
        testScores: out.testScores ?? {},
        pointing: out.pointing ?? null,
        error: out.outcome === 'diverged' ? 'training diverged (non-finite loss)' : null,
      };
      // The durable event first: the coordinator records it even if this process dies now.
      await publish({ kind: 'result', ...ref, at: Date.now(), result });
      jobLog.info(
        { outcome: out.outcome, epochsDone: out.epochsDone, valMacroF1: out.evaluation?.report.macroAvg.f1 },
        'rung finished',
      );
      return result;
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      const attempts = job.opts.attempts ?? 1;
      const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= attempts;
      let message = err instanceof Error ? err.message : String(err);
      // Failing after another worker took the job (and its result may already have closed the
      // rung and deleted this attempt's directory as a losing one) is a lost job, not the rung's
      // failure: say so, and report nothing.
      if (flags.stop === null && (await lostLock(jobId, token))) flags.stop = 'lost-lock';
      if (flags.stop === 'lost-lock' && !(err instanceof LostLockError))
        message = `lost the lock of ${jobId}; another worker owns it now (${message})`;
      jobLog.error({ err: message, attempt: job.attemptsMade + 1, final }, 'rung failed');
      if (final && flags.stop !== 'lost-lock')
        await publish({ kind: 'failed', ...ref, at: Date.now(), error: message });
      throw err;
    } finally {
      keepalive.releaseLock(jobId);
      stopFlags.delete(jobId);
      current.delete(jobId);
      void heartbeat().catch(() => undefined);
    }
  };

  await heartbeat();
  const worker = new Worker<TrialJobData, TrialRungResult>(TRIAL_QUEUE, processor, {
    connection: redis,
    prefix: options.prefix,
    concurrency,
    lockDuration: lockDurationMs,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    // A job whose worker died is put back this many times before it counts as failed.
    maxStalledCount: 10,
  });
  worker.on('error', (err) => log.error({ err: err.message }, 'worker error'));
  const preparations = options.preparer ? (options.preparations ?? 1) : 0;
  const prepareWorker = options.preparer
    ? startPrepareConsumer({
        connection: redis,
        prefix: options.prefix,
        preparer: options.preparer,
        concurrency: preparations,
        lockDurationMs,
        stalledIntervalMs: options.stalledIntervalMs ?? 30_000,
        keepalive,
        log,
      })
    : null;
  log.info(
    { workerId: id, backend, device, concurrency, preparations, prefix: options.prefix },
    'worker ready',
  );

  return {
    id,
    async close() {
      terminating = true;
      // Waits for running processors: they stop after their epoch and hand their jobs back;
      // a preparation in progress finishes.
      await Promise.all([worker.close(), prepareWorker?.close()]);
      await keepalive.stop(id);
      redis.disconnect();
      log.info({ workerId: id }, 'worker stopped');
    },
  };
}
