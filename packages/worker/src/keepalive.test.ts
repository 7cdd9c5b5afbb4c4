import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TRIAL_QUEUE, resolveHyperparameters, trialJobId, type TrialJobData } from '@braintune/protocol';
import type { RungInput, RungOutput, RungTrainer } from './trainer.js';
import { startWorker, type RunningWorker } from './worker.js';

process.env.LOG_LEVEL ??= 'warn';
const REDIS = 'redis://127.0.0.1:6379';

/** Holds the main thread for `ms` without yielding, like a long TensorFlow.js epoch does. */
class BlockingTrainer implements RungTrainer {
  runs = 0;
  constructor(private readonly ms: number) {}
  async init() {
    return { backend: 'test', device: 'none' };
  }
  async run({ job }: RungInput): Promise<RungOutput> {
    this.runs++;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.ms);
    return { outcome: 'completed', epochsDone: job.toEpoch, history: [], evaluation: null };
  }
}

describe('worker keepalive thread', () => {
  const prefix = `bt-keepalive-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(REDIS);
  let worker: RunningWorker | null = null;
  afterAll(async () => {
    await worker?.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('keeps the job lock and the heartbeat alive while an epoch blocks the event loop', async () => {
    const trainer = new BlockingTrainer(3000);
    // The lock would expire three times over during the blocking "epoch" without renewal.
    worker = await startWorker({
      redisUrl: REDIS,
      prefix,
      trainer,
      lockDurationMs: 1000,
      stalledIntervalMs: 300,
      heartbeatMs: 200,
    });
    const queue = new Queue<TrialJobData>(TRIAL_QUEUE, { connection: redis, prefix });
    const data: TrialJobData = {
      studyId: 'st-keepalive',
      trialId: 'st-keepalive:0',
      rung: 0,
      hyperparameters: resolveHyperparameters({ imageSize: 16 }),
      dataset: { hash: 'a'.repeat(64), imageSize: 16, classes: ['a', 'b'] },
      fromEpoch: 0,
      toEpoch: 1,
      checkpointKey: 'checkpoints/st-keepalive/trial-0',
      seed: 1,
      testSets: [],
    };
    const jobId = trialJobId(data.trialId, data.rung);
    const add = () => queue.add('rung', data, { jobId });

    // Another process watches the heartbeat: this one is blocked while the "epoch" runs.
    const watcher = spawn(
      process.execPath,
      [
        '-e',
        `const { Redis } = require('ioredis'); const r = new Redis(${JSON.stringify(REDIS)}); const seen = new Set();
         const t = setInterval(async () => { const raw = await r.hget(${JSON.stringify(`${prefix}:braintune:workers`)}, ${JSON.stringify(worker.id)});
           if (raw) seen.add(JSON.parse(raw).lastHeartbeat); }, 100);
         setTimeout(() => { clearInterval(t); console.log(seen.size); r.disconnect(); }, 2500);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let watched = '';
    watcher.stdout.on('data', (d: Buffer) => (watched += d.toString()));
    const watcherDone = new Promise((r) => watcher.once('exit', r));
    await new Promise((r) => setTimeout(r, 300)); // let the watcher connect before the block starts
    await add();
    const deadline = Date.now() + 20_000;
    let state = '';
    while (Date.now() < deadline) {
      state = await queue.getJobState(jobId);
      if (state === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await watcherDone;
    const job = await queue.getJob(jobId);
    await queue.close();
    expect(state).toBe('completed');
    expect(trainer.runs).toBe(1);
    expect(job?.attemptsStarted).toBe(1);
    expect(job?.stalledCounter ?? 0).toBe(0);
    // Heartbeats kept coming during the 3 s block (every 200 ms from the thread).
    expect(Number(watched.trim())).toBeGreaterThan(5);
  }, 30_000);
});
