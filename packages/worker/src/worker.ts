import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  TRIAL_QUEUE,
  createLogger,
  logConnectionState,
  redisKeys,
  trialJobId,
  type Logger,
  type PrepareJobData,
  type PrepareResult,
  type TrialJobData,
  type TrialRungResult,
  type WorkerInfo,
} from '@braintune/protocol';
import { Keepalive } from './keepalive.js';
import { startPrepareConsumer } from './prepare-consumer.js';
import type { DatasetPreparer } from './preparer.js';
import { RungProcessor, type StopFlags } from './rung-processor.js';
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
  const redis = connectRedis(options.redisUrl, log);
  const { backend, device } = await options.trainer.init();
  const startedAt = Date.now();
  const current = new Map<string, TrialJobData>();
  /** Per running job: why it must stop after the epoch in progress (set from callbacks and the keepalive thread). */
  const stopFlags = new Map<string, StopFlags>();
  let imagesPerSecond: number | null = null;
  let terminating = false;
  const lockDurationMs = options.lockDurationMs ?? 30_000;
  const keepalive = startKeepalive(options, lockDurationMs, stopFlags);

  /** Hands the current self-description to the keepalive thread, which heartbeats it. */
  const heartbeat = async (): Promise<void> => {
    const self = { id, backend, device, concurrency, startedAt, imagesPerSecond };
    keepalive.publish(describeWorker(self, [...current.values()]));
  };

  const rungs = new RungProcessor({
    workerId: id,
    redis,
    prefix: options.prefix,
    keepalive,
    trainer: options.trainer,
    log,
    lockDurationMs,
    stopFlags,
    current,
    heartbeat,
    isTerminating: () => terminating,
    setImagesPerSecond: (value) => {
      imagesPerSecond = value;
    },
  });

  await heartbeat();
  const worker = startTrialConsumer(options, redis, rungs, concurrency, lockDurationMs, log);
  const preparations = options.preparer ? (options.preparations ?? 1) : 0;
  const prepareWorker = startPreparations(options, redis, keepalive, preparations, lockDurationMs, log);
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

function connectRedis(redisUrl: string, log: Logger): Redis {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  logConnectionState(redis, 'Redis', redisUrl, log);
  return redis;
}

/** Heartbeats and lock renewals from their own thread; a lost lock stops its rung after the epoch. */
function startKeepalive(
  options: WorkerOptions,
  lockDurationMs: number,
  stopFlags: Map<string, StopFlags>,
): Keepalive {
  return new Keepalive({
    redisUrl: options.redisUrl,
    workersKey: redisKeys.workers(options.prefix),
    // Renew locks well before they expire, even if the heartbeat interval is longer.
    intervalMs: Math.min(options.heartbeatMs ?? 3000, Math.floor(lockDurationMs / 3)),
    onLostLock: (jobId) => {
      const flags = stopFlags.get(jobId);
      if (flags) flags.stop = 'lost-lock';
    },
  });
}

/** This process as of now, for the coordinator and the dashboard. */
function describeWorker(
  self: Pick<WorkerInfo, 'id' | 'backend' | 'device' | 'concurrency' | 'startedAt' | 'imagesPerSecond'>,
  running: TrialJobData[],
): WorkerInfo {
  return {
    id: self.id,
    host: hostname(),
    pid: process.pid,
    backend: self.backend,
    device: self.device,
    concurrency: self.concurrency,
    startedAt: self.startedAt,
    lastHeartbeat: Date.now(),
    currentTrials: running.map((j) => j.trialId),
    currentJobs: running.map((j) => trialJobId(j.trialId, j.rung)),
    imagesPerSecond: self.imagesPerSecond,
  };
}

/** Consumes TRIAL_QUEUE: each job is one attempt at a rung (rung-processor.ts). */
function startTrialConsumer(
  options: WorkerOptions,
  redis: Redis,
  rungs: RungProcessor,
  concurrency: number,
  lockDurationMs: number,
  log: Logger,
): Worker<TrialJobData, TrialRungResult> {
  const worker = new Worker<TrialJobData, TrialRungResult>(TRIAL_QUEUE, rungs.process, {
    connection: redis,
    prefix: options.prefix,
    concurrency,
    lockDuration: lockDurationMs,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    // A job whose worker died is put back this many times before it counts as failed.
    maxStalledCount: 10,
  });
  worker.on('error', (err) => log.error({ err: err.message }, 'worker error'));
  return worker;
}

/** With a preparer, this process also consumes PREPARE_QUEUE (prepare-consumer.ts); else null. */
function startPreparations(
  options: WorkerOptions,
  redis: Redis,
  keepalive: Keepalive,
  preparations: number,
  lockDurationMs: number,
  log: Logger,
): Worker<PrepareJobData, PrepareResult> | null {
  if (!options.preparer) return null;
  return startPrepareConsumer({
    connection: redis,
    prefix: options.prefix,
    preparer: options.preparer,
    concurrency: preparations,
    lockDurationMs,
    stalledIntervalMs: options.stalledIntervalMs ?? 30_000,
    keepalive,
    log,
  });
}
