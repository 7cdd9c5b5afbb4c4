import { Queue, type Job, type JobType } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  TRIAL_QUEUE,
  closeQueue,
  TrialJobDataSchema,
  trialJobId,
  type TrialJobData,
  type TrialRungResult,
} from '@braintune/protocol';

export type TrialJob = Job<TrialJobData, TrialRungResult>;
export type TrialJobState = JobType | 'unknown';

/** BullMQ priorities: 1 is the highest. Higher rungs first, so promotions overtake fresh trials. */
export function rungPriority(rung: number): number {
  return Math.max(1, 1000 - rung);
}

export interface TrialQueueOptions {
  connection: Redis;
  prefix: string;
  /** Attempts per rung before it is recorded as failed (stalls do not count). */
  attempts?: number;
  backoffMs?: number;
}

/** Producer side of the trial queue: one job per trial rung, id `<trialId>:<rung>`. */
export class TrialQueue {
  readonly queue: Queue<TrialJobData, TrialRungResult>;

  constructor(private readonly options: TrialQueueOptions) {
    this.queue = new Queue<TrialJobData, TrialRungResult>(TRIAL_QUEUE, {
      connection: options.connection,
      prefix: options.prefix,
    });
  }

  /**
   * Adds the rung's job unless a job with its id exists (in any state): BullMQ ignores an
   * add whose id is taken, which makes enqueueing idempotent.
   */
  async enqueue(data: TrialJobData): Promise<TrialJob> {
    const { name, data: valid, opts } = this.job(data);
    return this.queue.add(name, valid, opts);
  }

  /** Several rungs in one round trip (same idempotent ids). */
  async enqueueMany(data: TrialJobData[]): Promise<void> {
    if (data.length === 0) return;
    if (data.length === 1) {
      await this.enqueue(data[0]!);
      return;
    }
    await this.queue.addBulk(data.map((d) => this.job(d)));
  }

  private job(data: TrialJobData) {
    const valid = TrialJobDataSchema.parse(data);
    return {
      name: 'rung',
      data: valid,
      opts: {
        jobId: trialJobId(valid.trialId, valid.rung),
        priority: rungPriority(valid.rung),
        attempts: this.options.attempts ?? 3,
        backoff: { type: 'exponential', delay: this.options.backoffMs ?? 2000 },
        // Finished jobs are kept for a day so that a late duplicate add stays a no-op and the
        // reconciler can read a return value the coordinator has not recorded yet.
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    };
  }

  async getJob(jobId: string): Promise<TrialJob | undefined> {
    return (await this.queue.getJob(jobId)) ?? undefined;
  }

  async state(jobId: string): Promise<TrialJobState> {
    return (await this.queue.getJobState(jobId)) as TrialJobState;
  }

  /** Removes a job that is not running (waiting, prioritized, delayed); returns whether it is gone. */
  async removeIfIdle(jobId: string): Promise<boolean> {
    const state = await this.state(jobId);
    if (state === 'active') return false;
    if (state === 'unknown') return true;
    try {
      return (await this.queue.remove(jobId)) === 1;
    } catch {
      return false; // taken by a worker in the meantime
    }
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
  }

  close(): Promise<void> {
    return closeQueue(this.queue);
  }
}
