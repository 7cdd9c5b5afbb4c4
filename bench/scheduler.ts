/**
 * `npm run bench:scheduler [-- --trials 10000 --workers 50]` (also `-- --workers 200`,
 * `-- --full-workers`, `-- --workers-nice 0`)
 *
 * The coordinator under load: an ASHA study of 10,000 trials served by 50 simulated workers
 * whose "training" is instant. The coordinator is the real one (results streams, Postgres
 * transactions, scheduler, BullMQ enqueueing), so the numbers measure the whole
 * queue → record → decide → enqueue path. The workers speak the real protocol (BullMQ trial
 * jobs, started/result events on the results streams) from a process of their own: one whole
 * worker (startWorker with a simulated RungTrainer; it also prepares the study's tiny data set
 * with model-core) and thin slots for the rest (startThinSlots), or whole workers for all of
 * them with --full-workers.
 *
 * Reports coordinator decisions per second and the p50/p99 time from a rung finishing on a
 * worker to the promotion it caused being in the queue. The last stdout line is JSON.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { openArtifactStore } from '@braintune/artifacts';
import {
  Coordinator,
  defaultStudyFactory,
  deleteKeysWithPrefix,
  dropDatabase,
  migrateDatabase,
  studies,
  submitStudy,
  type AppliedEvent,
} from '@braintune/coordinator';
import {
  TRIAL_QUEUE,
  publishWorkerEvent,
  redisKeys,
  resultsStreamKeys,
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
    trials: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '50' },
    'max-epochs': { type: 'string', default: '27' },
    /** Every simulated worker a whole worker (startWorker) instead of one plus thin slots. */
    'full-workers': { type: 'boolean', default: false },
    /**
     * CPU priority of the simulated workers' process: on a cluster they are other machines, so
     * by default the coordinator, Redis and Postgres get the shared cores first (0: equal).
     */
    'workers-nice': { type: 'string', default: '10' },
    /** Internal: run the simulated workers of prefix P (the benchmark forks itself). */
    'workers-for': { type: 'string' },
    /** Internal: the artifact root the simulated workers prepare the data set into. */
    artifacts: { type: 'string' },
  },
});
const TRIALS = Number(args.trials);
const WORKERS = Number(args.workers);
const MAX_EPOCHS = Number(args['max-epochs']);
const ADMIN = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const log = (...parts: unknown[]) => console.error('[bench:scheduler]', ...parts);

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

/** Instant training: the rung's epochs and evaluation are computed, not trained. */
function simulateRung(job: TrialJobData): RungOutput {
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
      durationMs: 0,
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
    return simulateRung(job);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
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
  const worker = new Worker<TrialJobData, { outcome: string }>(
    TRIAL_QUEUE,
    async (job) => {
      const data = job.data;
      const ref = {
        studyId: data.studyId,
        trialId: data.trialId,
        rung: data.rung,
        jobId: job.id!,
        workerId: ids[0]!,
      };
      await publishWorkerEvent(redis, prefix, {
        kind: 'started',
        ...ref,
        at: Date.now(),
        attempt: job.attemptsMade + 1,
      });
      const out = simulateRung(data);
      const result: TrialRungResult = {
        trialId: data.trialId,
        rung: data.rung,
        workerId: ref.workerId,
        outcome: out.outcome,
        epochsDone: out.epochsDone,
        checkpointKey: `${data.checkpointKey}/rung-${data.rung}-sim`,
        history: out.history,
        evaluation: out.evaluation,
        calibration: null,
        testScores: {},
        pointing: null,
        error: null,
      };
      await publishWorkerEvent(redis, prefix, { kind: 'result', ...ref, at: Date.now(), result });
      return { outcome: out.outcome };
    },
    { connection: redis, prefix, concurrency: slots },
  );
  return {
    async close() {
      clearInterval(heartbeat);
      await worker.close();
      await redis.hdel(redisKeys.workers(prefix), ...ids);
      redis.disconnect();
    },
  };
}

/**
 * The simulated workers run in their own process (forked from this file), as real workers
 * would: in the coordinator's process they would compete for its event loop. One is a real
 * worker (startWorker: it also prepares the data set); the others are real workers too with
 * --full-workers, else thin slots (startThinSlots).
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

async function main(): Promise<void> {
  const id = randomBytes(3).toString('hex');
  const dbName = `bt_bench_${id}`;
  const databaseUrl = ADMIN.replace(/\/[^/]*$/, `/${dbName}`);
  const prefix = `bt-bench-${id}`;
  const tmp = await mkdtemp(path.join(tmpdir(), 'braintune-bench-'));
  const dataDir = path.join(tmp, 'data');
  // The study is submitted in this process: its data folder must be a data root here.
  process.env.BRAINTUNE_DATA_ROOTS = tmp;
  for (const cls of ['a', 'b']) {
    await mkdir(path.join(dataDir, cls), { recursive: true });
    for (let i = 0; i < 8; i++) {
      const px = Buffer.alloc(16 * 16, cls === 'a' ? 40 + i : 200 - i);
      await sharp(px, { raw: { width: 16, height: 16, channels: 1 } })
        .png()
        .toFile(path.join(dataDir, cls, `${i}.png`));
    }
  }

  await migrateDatabase(databaseUrl);
  const artifactRoot = path.join(tmp, 'artifacts');
  const coordinator = await Coordinator.start({
    databaseUrl,
    redisUrl: REDIS,
    prefix,
    artifactRoot,
    studies: defaultStudyFactory,
    migrate: false,
    tickMs: 500,
    workersMs: 1000,
    reconcileMs: 30_000,
  });
  const workerProcess = fork(
    new URL(import.meta.url).pathname,
    [
      '--workers',
      String(WORKERS),
      '--workers-for',
      prefix,
      '--artifacts',
      artifactRoot,
      ...(args['full-workers'] ? ['--full-workers'] : []),
    ],
    {
      env: process.env,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  setPriority(workerProcess.pid!, Number(args['workers-nice']));
  await new Promise<void>((resolve, reject) => {
    workerProcess.once('message', () => resolve());
    workerProcess.once('exit', (code) => reject(new Error(`simulated workers exited with ${code}`)));
  });
  await coordinator.refreshWorkers();

  const latencies: number[] = [];
  let appliedEvents = 0;
  coordinator.on('applied', (e: AppliedEvent) => {
    appliedEvents++;
    if (e.promoted > 0 && e.eventAt !== null) latencies.push(e.queuedAt - e.eventAt);
  });

  const yaml = `name: bench-scheduler
dataset: {path: ${JSON.stringify(dataDir)}, imageSize: 16}
searchSpace:
  learningRate: {type: float, min: 0.00001, max: 1, sampling: log}
  batchSize: [16, 32, 64]
scheduler: {type: asha, maxEpochs: ${MAX_EPOCHS}, minEpochs: 1, factor: 3, maxTrials: ${TRIALS}}
seed: 11
`;
  const { studyId } = await submitStudy(coordinator.db, defaultStudyFactory, yaml);
  log(`study ${studyId}: ASHA, ${TRIALS} trials, ${WORKERS} simulated workers`);
  // Time from the study running (dataset prepared) to completed.
  let started = 0;
  const cpuAtStart = process.cpuUsage();
  let last = 0;
  for (;;) {
    const [s] = await coordinator.db
      .select({ state: studies.state })
      .from(studies)
      .where(eq(studies.id, studyId));
    if (s?.state === 'running' && started === 0) started = performance.now();
    if (s?.state === 'completed' || s?.state === 'failed') break;
    if (performance.now() - last > 5_000) {
      last = performance.now();
      const counts = await coordinator.trialQueue.counts();
      const closing = await coordinator.redis.xlen(resultsStreamKeys.lane(prefix, 'closing'));
      const progress = await coordinator.redis.xlen(resultsStreamKeys.lane(prefix, 'progress'));
      log(
        `${coordinator.stats.recorded.result} rungs recorded, ${coordinator.stats.decisions} decisions; trial queue ${JSON.stringify(counts)}; results streams: ${closing} closing, ${progress} progress events unrecorded`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  const coordinatorCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const stats = structuredClone(coordinator.stats);

  workerProcess.send('stop');
  await new Promise((r) => workerProcess.once('exit', r));
  await coordinator.stop();
  const redis = new Redis(REDIS);
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
  await dropDatabase(databaseUrl);
  await rm(tmp, { recursive: true, force: true });

  latencies.sort((a, b) => a - b);
  const result = {
    bench: 'scheduler',
    scheduler: 'asha',
    trials: TRIALS,
    workers: WORKERS,
    /** thin: one whole worker plus protocol-only slots (startThinSlots); full: a whole worker per slot. */
    simulatedWorkers: args['full-workers'] ? 'full' : 'thin',
    workersNice: Number(args['workers-nice']),
    maxEpochs: MAX_EPOCHS,
    seconds: Number(seconds.toFixed(2)),
    rungsRecorded: stats.recorded.result,
    eventsRecorded:
      stats.recorded.started + stats.recorded.epoch + stats.recorded.result + stats.recorded.failed,
    duplicateEvents: stats.duplicates,
    decisions: stats.decisions,
    decisionsPerSecond: Number((stats.decisions / seconds).toFixed(1)),
    rungsPerSecond: Number((stats.recorded.result / seconds).toFixed(1)),
    promotions: latencies.length,
    promotionLatencyMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? NaN,
    },
    appliedEvents,
    /** Group commit: results-queue transactions and the mean number of events each recorded. */
    batches: stats.batches,
    eventsPerBatch: Number((stats.batchedEvents / Math.max(1, stats.batches)).toFixed(1)),
    coordinatorCpuFraction: Number((coordinatorCpuSeconds / seconds).toFixed(2)),
    /**
     * Decisions per CPU-second of the coordinator process: its capacity once the simulated
     * workers, Redis and Postgres no longer share its two cores (as on a real cluster).
     */
    decisionsPerCoordinatorCpuSecond: Math.round(stats.decisions / coordinatorCpuSeconds),
    /** The machine's 1-minute load average at the end of the run (the issue asks for the load). */
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  };
  console.log(JSON.stringify(result));
}

if (args['workers-for']) {
  if (!args.artifacts) throw new Error('--workers-for needs --artifacts');
  await runSimulatedWorkers(args['workers-for'], args.artifacts);
} else await main();
