/**
 * `npm run bench:scheduler [-- --trials 10000 --workers 50]` (also `-- --workers 200`,
 * `-- --full-workers`, `-- --workers-nice 0`, `-- --epoch-ms 30`)
 *
 * The coordinator under load: an ASHA study of 10,000 trials served by 50 simulated workers
 * whose "training" is instant (the coordinator saturated: every worker waits for it), or takes
 * --epoch-ms per epoch (an offered load below its capacity). The coordinator is the real one
 * (results streams, Postgres transactions, scheduler, BullMQ enqueueing), so the numbers
 * measure the whole queue → record → decide → enqueue path. The workers speak the real
 * protocol (BullMQ trial jobs, started/result events on the results streams) from a process of
 * their own (bench/scheduler-workers.ts): one whole worker (startWorker with a simulated
 * RungTrainer; it also prepares the study's tiny data set with model-core) and thin slots for
 * the rest (startThinSlots), or whole workers for all of them with --full-workers.
 *
 * Reports coordinator decisions per second and the p50/p99 time from a rung finishing on a
 * worker to the promotion it caused being in the queue, and (on Linux) the CPU time the
 * coordinator, the simulated workers, Redis and Postgres each spent on the study — on a 2-core
 * machine they share the cores, on a cluster they would not. The last stdout line is JSON.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import {
  Coordinator,
  defaultStudyFactory,
  deleteKeysWithPrefix,
  dropDatabase,
  migrateDatabase,
  studies,
  submitStudy,
  type AppliedEvent,
  type CoordinatorStats,
} from '@braintune/coordinator';
import { resultsBacklog } from '@braintune/protocol';
import { cpuByComponent, cpuSpent, type Classify } from './process-cpu.js';

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
    /** Simulated training time per epoch (0: instant, the coordinator saturated). */
    'epoch-ms': { type: 'string', default: '0' },
  },
});
const TRIALS = Number(args.trials);
const WORKERS = Number(args.workers);
const MAX_EPOCHS = Number(args['max-epochs']);
const ADMIN = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const log = (...parts: unknown[]) => console.error('[bench:scheduler]', ...parts);

/** The process groups of a run: this process is the coordinator, the forked one the workers. */
function benchComponents(workersPid: number): Classify {
  return (pid, comm) => {
    if (pid === process.pid) return 'coordinator';
    if (pid === workersPid) return 'workers';
    if (comm === 'redis-server') return 'redis';
    if (comm === 'postgres') return 'postgres';
    return null;
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A two-class data set of 16 tiny PNGs: preparation is not what this benchmark measures. */
async function makeTinyDataset(dataDir: string): Promise<void> {
  for (const cls of ['a', 'b']) {
    await mkdir(path.join(dataDir, cls), { recursive: true });
    for (let i = 0; i < 8; i++) {
      const px = Buffer.alloc(16 * 16, cls === 'a' ? 40 + i : 200 - i);
      await sharp(px, { raw: { width: 16, height: 16, channels: 1 } })
        .png()
        .toFile(path.join(dataDir, cls, `${i}.png`));
    }
  }
}

/** The simulated workers' process (bench/scheduler-workers.ts), resolved once they are all up. */
async function startSimulatedWorkers(prefix: string, artifactRoot: string): Promise<ChildProcess> {
  const workerProcess = fork(
    new URL('./scheduler-workers.ts', import.meta.url).pathname,
    [
      '--workers',
      String(WORKERS),
      '--prefix',
      prefix,
      '--artifacts',
      artifactRoot,
      ...(args['full-workers'] ? ['--full-workers'] : []),
      '--epoch-ms',
      args['epoch-ms'],
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
  return workerProcess;
}

interface Measured {
  /** From the study running (its data set prepared) to completed. */
  seconds: number;
  coordinatorCpuSeconds: number;
  componentCpu: Record<string, number> | null;
  stats: CoordinatorStats;
  /** Rung finished → promotion queued, one per batch that promoted (ms, sorted). */
  latencies: number[];
  /** The same, one per promotion, from the outcome that led to it (ms, sorted). */
  promotionLatencies: number[];
  appliedEvents: number;
}

/** Submits the ASHA study and follows it to the end, measuring from the moment it runs. */
async function runStudy(
  coordinator: Coordinator,
  dataDir: string,
  prefix: string,
  workersPid: number,
): Promise<Measured> {
  const latencies: number[] = [];
  const promotionLatencies: number[] = [];
  let appliedEvents = 0;
  coordinator.on('applied', (e: AppliedEvent) => {
    appliedEvents++;
    if (e.promoted > 0 && e.eventAt !== null) latencies.push(e.queuedAt - e.eventAt);
    for (const at of e.promotedFrom) promotionLatencies.push(e.queuedAt - at);
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
  let started = 0;
  let cpuAtStart = process.cpuUsage();
  const components = benchComponents(workersPid);
  let componentsAtStart: Map<string, number> | null = null;
  let last = 0;
  for (;;) {
    const [s] = await coordinator.db
      .select({ state: studies.state })
      .from(studies)
      .where(eq(studies.id, studyId));
    if (s?.state === 'running' && started === 0) {
      started = performance.now();
      // The coordinator's CPU over the same span as the rest (not the preparation before it).
      cpuAtStart = process.cpuUsage();
      componentsAtStart = await cpuByComponent(components);
    }
    if (s?.state === 'completed' || s?.state === 'failed') break;
    if (performance.now() - last > 5_000) {
      last = performance.now();
      const counts = await coordinator.trialQueue.counts();
      const { closing, progress } = await resultsBacklog(coordinator.redis, prefix);
      log(
        `${coordinator.stats.recorded.result} rungs recorded, ${coordinator.stats.decisions} decisions; trial queue ${JSON.stringify(counts)}; results streams: ${closing} closing, ${progress} progress events unrecorded`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    seconds,
    coordinatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    componentCpu: cpuSpent(componentsAtStart, await cpuByComponent(components)),
    stats: structuredClone(coordinator.stats),
    latencies: latencies.sort((a, b) => a - b),
    promotionLatencies: promotionLatencies.sort((a, b) => a - b),
    appliedEvents,
  };
}

function latencySummary(sorted: number[]) {
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
  };
}

/** The benchmark's JSON line. */
function report(m: Measured, loadAtStart: number) {
  const { seconds, stats, latencies, componentCpu, coordinatorCpuSeconds } = m;
  return {
    bench: 'scheduler',
    scheduler: 'asha',
    trials: TRIALS,
    workers: WORKERS,
    /** thin: one whole worker plus protocol-only slots (startThinSlots); full: a whole worker per slot. */
    simulatedWorkers: args['full-workers'] ? 'full' : 'thin',
    workersNice: Number(args['workers-nice']),
    /** Simulated training time per epoch: 0 saturates the coordinator (see docs/scaling.md). */
    epochMs: Number(args['epoch-ms']),
    maxEpochs: MAX_EPOCHS,
    seconds: Number(seconds.toFixed(2)),
    rungsRecorded: stats.recorded.result,
    eventsRecorded:
      stats.recorded.started + stats.recorded.epoch + stats.recorded.result + stats.recorded.failed,
    duplicateEvents: stats.duplicates,
    decisions: stats.decisions,
    decisionsPerSecond: Number((stats.decisions / seconds).toFixed(1)),
    rungsPerSecond: Number((stats.recorded.result / seconds).toFixed(1)),
    promotions: m.promotionLatencies.length,
    /**
     * Rung finished → promotion queued, over promotions: from the promoted trial's own outcome
     * when it is in the batch, else from the batch's oldest outcome (AppliedEvent.promotedFrom).
     */
    promotionLatencyMs: latencySummary(m.promotionLatencies),
    /**
     * Over the batches that promoted, each counted once, from the batch's oldest outcome (the
     * worst case of the batch; this benchmark's only figure before 2026-12-01).
     */
    promotingBatches: latencies.length,
    promotionLatencyPerBatchMs: latencySummary(latencies),
    appliedEvents: m.appliedEvents,
    /** Group commit: results transactions and the mean number of events each recorded. */
    batches: stats.batches,
    eventsPerBatch: Number((stats.batchedEvents / Math.max(1, stats.batches)).toFixed(1)),
    coordinatorCpuFraction: Number((coordinatorCpuSeconds / seconds).toFixed(2)),
    /**
     * Decisions per CPU-second of the coordinator process: its capacity once the simulated
     * workers, Redis and Postgres no longer share its two cores (as on a real cluster).
     */
    decisionsPerCoordinatorCpuSecond: Math.round(stats.decisions / coordinatorCpuSeconds),
    /**
     * CPU seconds each process group spent during the study (Linux /proc; null elsewhere), and
     * that per recorded rung: on this machine they share the cores, on a cluster only the
     * coordinator and Postgres would (see docs/scaling.md, "Where the cores go").
     */
    cpuSeconds: componentCpu,
    cpuMsPerRung:
      componentCpu &&
      Object.fromEntries(
        Object.entries(componentCpu).map(([k, v]) => [
          k,
          Number(((v * 1000) / stats.recorded.result).toFixed(2)),
        ]),
      ),
    /** Share of all the machine's cores the four groups used together. */
    machineCpuFraction:
      componentCpu &&
      Number(
        (Object.values(componentCpu).reduce((a, b) => a + b, 0) / (seconds * availableParallelism())).toFixed(
          2,
        ),
      ),
    /**
     * The machine's 1-minute load average before the run and at its end (the issue asks for
     * the load; the run itself keeps the coordinator, Postgres, Redis and the workers busy).
     */
    loadAverage1mAtStart: Number(loadAtStart.toFixed(2)),
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  };
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const id = randomBytes(3).toString('hex');
  const dbName = `bt_bench_${id}`;
  const databaseUrl = ADMIN.replace(/\/[^/]*$/, `/${dbName}`);
  const prefix = `bt-bench-${id}`;
  const tmp = await mkdtemp(path.join(tmpdir(), 'braintune-bench-'));
  const dataDir = path.join(tmp, 'data');
  // The study is submitted in this process: its data folder must be a data root here.
  process.env.BRAINTUNE_DATA_ROOTS = tmp;
  await makeTinyDataset(dataDir);

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
  const workerProcess = await startSimulatedWorkers(prefix, artifactRoot);
  await coordinator.refreshWorkers();
  const measured = await runStudy(coordinator, dataDir, prefix, workerProcess.pid!);

  workerProcess.send('stop');
  await new Promise((r) => workerProcess.once('exit', r));
  await coordinator.stop();
  const redis = new Redis(REDIS);
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
  await dropDatabase(databaseUrl);
  await rm(tmp, { recursive: true, force: true });

  const result = report(measured, loadAtStart);
  if (result.cpuMsPerRung)
    log(
      `CPU per rung: ${Object.entries(result.cpuMsPerRung)
        .map(([k, ms]) => `${k} ${ms} ms`)
        .join(', ')}; ${Math.round((result.machineCpuFraction ?? 0) * 100)} % of the machine's cores busy`,
    );
  else log('CPU per process group not measured: /proc is not available on this system');
  console.log(JSON.stringify(result));
}

await main();
