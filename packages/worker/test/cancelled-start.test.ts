import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from '@braintune/coordinator';
import {
  RESULTS_LANES,
  TRIAL_QUEUE,
  decodeWorkerEvent,
  redisKeys,
  resolveHyperparameters,
  resultsStreamKeys,
  trialJobId,
  type TrialJobData,
  type WorkerEvent,
} from '@braintune/protocol';
import {
  startWorker,
  type RungInput,
  type RungOutput,
  type RungTrainer,
  type RunningWorker,
} from '../src/index.js';
import { waitFor } from './harness.js';

process.env.LOG_LEVEL ??= 'warn';
const REDIS = 'redis://127.0.0.1:6379';

/** Trains nothing; stops at once when asked to, as the real trainer does between epochs. */
class InstantTrainer implements RungTrainer {
  async init() {
    return { backend: 'test', device: 'none' };
  }
  async run({ job, shouldStop }: RungInput): Promise<RungOutput> {
    if (shouldStop())
      return { outcome: 'cancelled', epochsDone: job.fromEpoch, history: [], evaluation: null };
    return { outcome: 'completed', epochsDone: job.toEpoch, history: [], evaluation: null };
  }
}

function jobOf(studyId: string): TrialJobData {
  return {
    studyId,
    trialId: `${studyId}:0`,
    rung: 0,
    hyperparameters: resolveHyperparameters({ imageSize: 16 }),
    dataset: { hash: 'a'.repeat(64), imageSize: 16, classes: ['a', 'b'] },
    fromEpoch: 0,
    toEpoch: 1,
    checkpointKey: `checkpoints/${studyId}/trial-0`,
    seed: 1,
    testSets: [],
  };
}

describe('a rung taken after its study was cancelled', () => {
  const prefix = `bt-cancelled-start-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(REDIS, { maxRetriesPerRequest: null });
  const queue = new Queue<TrialJobData>(TRIAL_QUEUE, { connection: redis, prefix });
  let worker: RunningWorker | null = null;
  afterAll(async () => {
    await worker?.close();
    await queue.close();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  });

  /** The events published for a job, from both results lanes. */
  async function eventsOf(jobId: string): Promise<WorkerEvent[]> {
    const events: WorkerEvent[] = [];
    for (const lane of RESULTS_LANES) {
      for (const [, fields] of await redis.xrange(resultsStreamKeys.lane(prefix, lane), '-', '+')) {
        const decoded = decodeWorkerEvent(fields);
        if (decoded.ok && decoded.event.jobId === jobId) events.push(decoded.event);
      }
    }
    return events;
  }

  it('is reported cancelled without a start (it never ran), while a live study’s rung starts', async () => {
    await redis.set(redisKeys.cancelled(prefix, 'st-gone'), '1');
    worker = await startWorker({ redisUrl: REDIS, prefix, trainer: new InstantTrainer(), heartbeatMs: 200 });
    for (const studyId of ['st-gone', 'st-live']) {
      const data = jobOf(studyId);
      await queue.add('rung', data, { jobId: trialJobId(data.trialId, data.rung) });
    }
    const gone = trialJobId('st-gone:0', 0);
    const live = trialJobId('st-live:0', 0);
    await waitFor('both rungs done', async () => (await queue.getCompletedCount()) === 2, 20_000, 50);

    const goneEvents = await eventsOf(gone);
    expect(goneEvents.map((e) => e.kind)).toEqual(['result']);
    const result = goneEvents[0];
    expect(result?.kind === 'result' && result.result.outcome).toBe('cancelled');
    expect((await eventsOf(live)).map((e) => e.kind).sort()).toEqual(['result', 'started']);
  }, 30_000);
});
