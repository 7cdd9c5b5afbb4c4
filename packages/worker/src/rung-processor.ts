import { randomBytes } from 'node:crypto';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  TRIAL_QUEUE,
  TrialJobDataSchema,
  TrialProgressSchema,
  attemptCheckpointKey,
  publishWorkerEvent,
  redisKeys,
  trialJobId,
  type EpochMetrics,
  type Logger,
  type TrialJobData,
  type TrialProgress,
  type TrialRungResult,
  type WorkerEvent,
} from '@braintune/protocol';
import type { Keepalive } from './keepalive.js';
import type { RungOutput, RungTrainer } from './trainer.js';

type StopReason = 'cancelled' | 'lost-lock';

/** Why a running job must stop after the epoch in progress (null: it need not). */
export interface StopFlags {
  stop: StopReason | null;
}

/** An attempt that noticed between epochs that another worker holds its job now. */
class LostLockError extends Error {}

/** Earlier attempts of a job a new attempt looks at (each is a checkpoint pulled and read). */
const ATTEMPTS_REMEMBERED = 3;

/** What the rung processor needs from the worker process it runs in (worker.ts owns all of it). */
export interface RungProcessorContext {
  workerId: string;
  /** The worker's connection: events, cancellation marks, and reads of job locks. */
  redis: Redis;
  /** Key prefix shared with the coordinator. */
  prefix: string;
  /** Renews a running job's lock from its own thread, since an epoch holds the event loop. */
  keepalive: Keepalive;
  trainer: RungTrainer;
  log: Logger;
  lockDurationMs: number;
  /** Per running job: why it must stop after the epoch in progress (set from callbacks and the keepalive thread). */
  stopFlags: Map<string, StopFlags>;
  /** The rungs this process runs now, by job id: the heartbeat names them. */
  current: Map<string, TrialJobData>;
  /** Hands the current self-description to the keepalive thread, which heartbeats it. */
  heartbeat: () => Promise<void>;
  /** A function, not a flag: close() sets it while rungs are training, and they must see it. */
  isTerminating: () => boolean;
  /** The latest epoch's training speed, for the heartbeat. */
  setImagesPerSecond: (imagesPerSecond: number) => void;
}

/** The fields every event of one attempt carries (bar the time). */
interface RungRef {
  studyId: string;
  trialId: string;
  rung: number;
  jobId: string;
  workerId: string;
}

/** One attempt at a rung, as its steps below share it. */
interface Attempt {
  job: Job<TrialJobData, TrialRungResult>;
  token: string | undefined;
  data: TrialJobData;
  jobId: string;
  ref: RungRef;
  attemptKey: string;
  earlierAttemptKeys: string[];
  /** The earlier attempts and this one, as the job's progress names them. */
  attemptKeys: string[];
  log: Logger;
  flags: StopFlags;
}

/**
 * The whole life of one attempt at a trial rung (BullMQ's processor for TRIAL_QUEUE): trains it
 * through the RungTrainer, reports every epoch (job progress and a durable event for the
 * coordinator) and the rung result, hands the job back on SIGTERM, and tells a lost job from
 * the rung's failure.
 */
export class RungProcessor {
  constructor(private readonly ctx: RungProcessorContext) {}

  /** An arrow property, so that it can be handed to BullMQ as it is. */
  readonly process = async (
    job: Job<TrialJobData, TrialRungResult>,
    token?: string,
  ): Promise<TrialRungResult> => {
    const attempt = await this.begin(job, token);
    try {
      return await this.run(attempt);
    } catch (err) {
      if (!(err instanceof WaitingError)) await this.reportFailure(attempt, err);
      throw err;
    } finally {
      this.end(attempt);
    }
  };

  /** Reads the job, names this attempt's checkpoint, and registers the attempt as running. */
  private async begin(job: Job<TrialJobData, TrialRungResult>, token: string | undefined): Promise<Attempt> {
    const { ctx } = this;
    const parsed = TrialJobDataSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(
        `invalid job data: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
      );
    const data = parsed.data;
    const jobId = job.id ?? trialJobId(data.trialId, data.rung);
    const ref = {
      studyId: data.studyId,
      trialId: data.trialId,
      rung: data.rung,
      jobId,
      workerId: ctx.workerId,
    };
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
    const log = ctx.log.child({ jobId, fromEpoch: data.fromEpoch, toEpoch: data.toEpoch, attemptKey });
    // An object, not a let: it is changed inside callbacks, which flow analysis would not see.
    const flags: StopFlags = {
      stop: (await this.cancelled(data.studyId)) ? 'cancelled' : null,
    };
    ctx.stopFlags.set(jobId, flags);
    if (token) ctx.keepalive.holdLock(jobId, this.lockKey(jobId), token, ctx.lockDurationMs);

    ctx.current.set(jobId, data);
    void ctx.heartbeat().catch(() => undefined);
    return { job, token, data, jobId, ref, attemptKey, earlierAttemptKeys, attemptKeys, log, flags };
  }

  /** Trains the rung and reports its result; throws to hand the job back or to fail it. */
  private async run(attempt: Attempt): Promise<TrialRungResult> {
    const { job, token, jobId, ref, attemptKeys, log, flags } = attempt;
    // Named before any training, so an attempt killed at any moment is found by the next one.
    await job.updateProgress({ workerId: this.ctx.workerId, attempts: attemptKeys } satisfies TrialProgress);
    // A rung of a study cancelled before it began never starts: the trainer stops at once and
    // the rung is reported cancelled (it did not run, so it gets no start time).
    if (flags.stop !== 'cancelled') {
      await this.publish({ kind: 'started', ...ref, at: Date.now(), attempt: job.attemptsMade + 1 });
      log.info({ attempt: job.attemptsMade + 1 }, 'rung started');
    }
    const out = await this.train(attempt);
    if (flags.stop === 'lost-lock') {
      throw new LostLockError(
        `lost the lock of ${jobId} after epoch ${out.epochsDone}; another worker owns it now`,
      );
    }
    if (this.ctx.isTerminating() && flags.stop === null && out.outcome === 'cancelled') {
      // SIGTERM: the epoch in progress is checkpointed; give the job back so another worker resumes it.
      log.info({ epochsDone: out.epochsDone }, 'handing the rung back (shutting down)');
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const result = rungResult(this.ctx.workerId, attempt, out);
    // The durable event first: the coordinator records it even if this process dies now.
    await this.publish({ kind: 'result', ...ref, at: Date.now(), result });
    log.info(
      { outcome: out.outcome, epochsDone: out.epochsDone, valMacroF1: out.evaluation?.report.macroAvg.f1 },
      'rung finished',
    );
    return result;
  }

  private train(attempt: Attempt): Promise<RungOutput> {
    const { data, attemptKey, earlierAttemptKeys, log, flags } = attempt;
    return this.ctx.trainer.run({
      job: data,
      attemptKey,
      earlierAttemptKeys,
      logger: log,
      shouldStop: () => this.ctx.isTerminating() || flags.stop !== null,
      onEpoch: (metrics) => this.afterEpoch(attempt, metrics),
    });
  }

  /** Reports a finished, checkpointed epoch and decides whether the rung goes on. */
  private async afterEpoch(attempt: Attempt, metrics: EpochMetrics): Promise<void> {
    const { ctx } = this;
    const { job, token, data, jobId, ref, attemptKeys, flags } = attempt;
    ctx.setImagesPerSecond(metrics.trainImagesPerSecond);
    await this.publish({ kind: 'epoch', ...ref, at: Date.now(), metrics });
    await job.updateProgress({
      workerId: ctx.workerId,
      epoch: metrics,
      attempts: attemptKeys,
    } satisfies TrialProgress);
    // Between epochs: has the study been cancelled, or has someone else taken the job
    // (its lock expired, or Redis lost it and the coordinator queued it again)?
    if (await this.cancelled(data.studyId)) flags.stop ??= 'cancelled';
    if (await this.lostLock(jobId, token)) flags.stop = 'lost-lock';
  }

  /** Logs a failed attempt, and reports the rung failed when this was its last attempt. */
  private async reportFailure(attempt: Attempt, err: unknown): Promise<void> {
    const { job, token, jobId, ref, log, flags } = attempt;
    const attempts = job.opts.attempts ?? 1;
    const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= attempts;
    let message = err instanceof Error ? err.message : String(err);
    // Failing after another worker took the job (and its result may already have closed the
    // rung and deleted this attempt's directory as a losing one) is a lost job, not the rung's
    // failure: say so, and report nothing.
    if (flags.stop === null && (await this.lostLock(jobId, token))) flags.stop = 'lost-lock';
    if (flags.stop === 'lost-lock' && !(err instanceof LostLockError))
      message = `lost the lock of ${jobId}; another worker owns it now (${message})`;
    log.error({ err: message, attempt: job.attemptsMade + 1, final }, 'rung failed');
    if (final && flags.stop !== 'lost-lock')
      await this.publish({ kind: 'failed', ...ref, at: Date.now(), error: message });
  }

  /** Undoes begin(), whatever the attempt's end. */
  private end({ jobId }: Attempt): void {
    const { ctx } = this;
    ctx.keepalive.releaseLock(jobId);
    ctx.stopFlags.delete(jobId);
    ctx.current.delete(jobId);
    void ctx.heartbeat().catch(() => undefined);
  }

  private publish(event: WorkerEvent): Promise<void> {
    return publishWorkerEvent(this.ctx.redis, this.ctx.prefix, event);
  }

  /** Whether the study is marked cancelled in Redis (the coordinator's mark, read between epochs). */
  private async cancelled(studyId: string): Promise<boolean> {
    return (await this.ctx.redis.exists(redisKeys.cancelled(this.ctx.prefix, studyId))) > 0;
  }

  private lockKey(jobId: string): string {
    return `${this.ctx.prefix}:${TRIAL_QUEUE}:${jobId}:lock`;
  }

  /** Whether the job's lock is no longer this attempt's (an unanswered Redis is not proof). */
  private async lostLock(jobId: string, token: string | undefined): Promise<boolean> {
    return (
      token !== undefined && (await this.ctx.redis.get(this.lockKey(jobId)).catch(() => token)) !== token
    );
  }
}

/** What the rung's job returns, and the coordinator records from its 'result' event. */
function rungResult(workerId: string, attempt: Attempt, out: RungOutput): TrialRungResult {
  return {
    trialId: attempt.data.trialId,
    rung: attempt.data.rung,
    workerId,
    outcome: out.outcome,
    epochsDone: out.epochsDone,
    checkpointKey: attempt.attemptKey,
    earlierAttemptKeys: attempt.earlierAttemptKeys,
    history: out.history,
    evaluation: out.evaluation,
    calibration: out.calibration ?? null,
    testScores: out.testScores ?? {},
    pointing: out.pointing ?? null,
    error: out.outcome === 'diverged' ? 'training diverged (non-finite loss)' : null,
  };
}
