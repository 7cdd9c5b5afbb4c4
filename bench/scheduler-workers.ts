/**
 * The simulated workers of `npm run bench:scheduler`, in a process of their own (forked by
 * bench/scheduler.ts), as real workers would be: in the coordinator's process they would
 * compete for its event loop. A rung's epochs and evaluation are computed, instantly or, with
 * --epoch-ms, after that many milliseconds per epoch (the workers then pace the study as
 * training would, and the coordinator runs below saturation).
 *
 * `--workers N --prefix P --artifacts DIR [--full-workers] [--epoch-ms MS]`; says 'ready' over
 * IPC, stops on any message.
 */
import { parseArgs } from 'node:util';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { openArtifactStore } from '@braintune/artifacts';
import {
  TRIAL_QUEUE,
  publishWorkerEvent,
  redisKeys,
  type EpochMetrics,
  type Evaluation,
  type TrialJobData,
  type TrialRungResult,
  type WorkerInfo,
} from '@braintune/protocol';
import {
  ModelCorePreparer,
  startWorker,
  type RungInput,
  type RungOutput,
  type RungTrainer,
} from '@braintune/worker';

process.env.LOG_LEVEL ??= 'error';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '50' },
    prefix: { type: 'string' },
    artifacts: { type: 'string' },
    'full-workers': { type: 'boolean', default: false },
    'epoch-ms': { type: 'string', default: '0' },
  },
});
if (!args.prefix || !args.artifacts) throw new Error('scheduler-workers needs --prefix and --artifacts');
const WORKERS = Number(args.workers);
const EPOCH_MS = Number(args['epoch-ms']);
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A deterministic "validation score" of a trial: best near lr = 10^-2.5, better with more epochs. */
function simulatedScore(job: TrialJobData, epoch: number): number {
  const lr = Math.log10(job.hyperparameters.learningRate);
  const quality = Math.max(0, 1 - Math.abs(lr + 2.5) / 2.5);
  const noise = ((job.seed % 1000) / 1000 - 0.5) * 0.05;
  return Math.min(1, Math.max(0, 0.25 + 0.6 * quality * (1 - 1 / (1 + epoch)) + noise));
}

function evaluationFor(score: number, classes: string[]): Evaluation {
  const perClass = Object.fromEntries(
    classes.map((c) => [c, { precision: score, recall: score, f1: score, support: 10 }]),
  );
  const avg = { precision: score, recall: score, f1: score, support: 10 * classes.length };
  const right = Math.round(score * 10);
  return {
    classes,
    confusionMatrix: classes.map((_, i) =>
      classes.map((__, j) => (i === j ? right : j === (i + 1) % classes.length ? 10 - right : 0)),
    ),
    report: { classes, perClass, accuracy: score, macroAvg: avg, weightedAvg: avg },
    loss: 1 - score,
  };
}

/** Simulated training: the rung's epochs and evaluation are computed, taking EPOCH_MS per epoch. */
async function simulateRung(job: TrialJobData): Promise<RungOutput> {
  const epochs = job.toEpoch - job.fromEpoch;
  if (EPOCH_MS > 0) await new Promise((r) => setTimeout(r, EPOCH_MS * epochs));
  const history: EpochMetrics[] = [];
  for (let epoch = job.fromEpoch + 1; epoch <= job.toEpoch; epoch++) {
    const s = simulatedScore(job, epoch);
    history.push({
      epoch,
      loss: 1 - s,
      accuracy: s,
      valLoss: 1 - s,
      valAccuracy: s,
      valMacroF1: s,
      valRecall: Object.fromEntries(job.dataset.classes.map((c) => [c, s])),
      trainImagesPerSecond: 0,
      durationMs: EPOCH_MS,
    });
  }
  return {
    outcome: 'completed',
    epochsDone: job.toEpoch,
    history,
    evaluation: evaluationFor(simulatedScore(job, job.toEpoch), job.dataset.classes),
  };
}

class SimulatedTrainer implements RungTrainer {
  async init() {
    return { backend: 'simulated', device: 'none' };
  }
  async run({ job }: RungInput): Promise<RungOutput> {
    return await simulateRung(job);
  }
}

/**
 * Worker slots that speak the worker protocol and nothing else: take a rung off the trial
 * queue, publish 'started', "train", publish the result event a real worker would, complete
 * the job; heartbeat one concurrency-1 worker entry per slot (the coordinator's capacity).
 * What the coordinator sees is what real workers produce; what it costs is one BullMQ consumer
 * instead of a worker process (keepalive thread, heartbeats and progress writes) per slot,
 * which on this 2-core machine would take the cores the coordinator is measured on.
 */
async function startThinSlots(prefix: string, slots: number): Promise<{ close(): Promise<void> }> {
  const redis = new Redis(REDIS, { maxRetriesPerRequest: null });
  const ids = Array.from({ length: slots }, (_, i) => `sim-thin-${i}`);
  const beat = async () => {
    const now = Date.now();
    const info = (id: string): WorkerInfo => ({
      id,
      host: 'bench',
      pid: process.pid,
      backend: 'simulated',
      device: 'none',
      concurrency: 1,
      startedAt: now,
      lastHeartbeat: now,
      currentTrials: [],
      currentJobs: [],
      imagesPerSecond: null,
    });
    await redis.hset(
      redisKeys.workers(prefix),
      Object.fromEntries(ids.map((id) => [id, JSON.stringify(info(id))])),
    );
  };
  await beat();
  const heartbeat = setInterval(() => void beat(), 2000);
  const slot = (slotId: string) => async (job: Job<TrialJobData>) => {
    const data = job.data;
    const ref = {
      studyId: data.studyId,
      trialId: data.trialId,
      rung: data.rung,
      jobId: job.id!,
      workerId: slotId,
    };
    await publishWorkerEvent(redis, prefix, {
      kind: 'started',
      ...ref,
      at: Date.now(),
      attempt: job.attemptsMade + 1,
    });
    const out = await simulateRung(data);
    const result: TrialRungResult = {
      trialId: data.trialId,
      rung: data.rung,
      workerId: ref.workerId,
      outcome: out.outcome,
      epochsDone: out.epochsDone,
      checkpointKey: `${data.checkpointKey}/rung-${data.rung}-sim`,
      earlierAttemptKeys: [],
      history: out.history,
      evaluation: out.evaluation,
      calibration: null,
      testScores: {},
      pointing: null,
      error: null,
    };
    await publishWorkerEvent(redis, prefix, { kind: 'result', ...ref, at: Date.now(), result });
    return { outcome: out.outcome };
  };
  // A consumer per slot, as a machine per worker: each takes its next job on its own blocking
  // connection. One consumer with `concurrency: slots` takes a wave of jobs one after another,
  // which throttled the study (~1,100 against ~1,650 decisions/s) though no cluster does that.
  const workers = ids.map(
    (id) =>
      new Worker<TrialJobData, { outcome: string }>(TRIAL_QUEUE, slot(id), { connection: redis, prefix }),
  );
  return {
    async close() {
      clearInterval(heartbeat);
      await Promise.all(workers.map((w) => w.close()));
      await redis.hdel(redisKeys.workers(prefix), ...ids);
      redis.disconnect();
    },
  };
}

/**
 * One real worker (startWorker: it also prepares the data set); the others are real workers
 * too with --full-workers, else thin slots (startThinSlots).
 */
async function runSimulatedWorkers(prefix: string, artifactRoot: string): Promise<void> {
  const preparer = new ModelCorePreparer(openArtifactStore(artifactRoot));
  const full = args['full-workers'] ? WORKERS : 1;
  const workers = await Promise.all(
    Array.from({ length: full }, (_, i) =>
      startWorker({
        redisUrl: REDIS,
        prefix,
        trainer: new SimulatedTrainer(),
        concurrency: 1,
        workerId: `sim-${i}`,
        heartbeatMs: 2000,
        ...(i === 0 ? { preparer } : {}),
      }),
    ),
  );
  const thin = WORKERS > full ? [await startThinSlots(prefix, WORKERS - full)] : [];
  process.send?.('ready');
  process.once('message', () => {
    void Promise.all([...workers, ...thin].map((w) => w.close())).then(() => process.exit(0));
  });
}

await runSimulatedWorkers(args.prefix, args.artifacts);
