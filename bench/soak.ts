/**
 * bench:soak — a cluster under steady abuse: three Hyperband(3,3,1) studies at once (a new one
 * is submitted whenever one finishes), a worker SIGKILLed every 30 s, the coordinator SIGKILLed
 * and restarted every 2 minutes, for `--minutes` (default 10). Then it waits for the studies in
 * flight to finish and audits every study in Postgres: each must have exactly 5 trials, 6
 * evaluated rungs and 11 epoch rows (KerasTuner's plan) — anything missing is lost, anything
 * beyond is a duplicate.
 *
 *   npm run bench:soak [-- --minutes 10 --workers 2]
 *
 * Last line: {"bench":"soak","minutes":…,"studiesCompleted":…,"studiesFailed":…,
 * "lostResults":…,"duplicateResults":…,"workerKills":…,"coordinatorRestarts":…}
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq, sql } from 'drizzle-orm';
import sharp from 'sharp';
import {
  createRedis,
  defaultStudyFactory,
  deleteKeysWithPrefix,
  dropDatabase,
  epochMetrics,
  evaluations,
  migrateDatabase,
  openDatabase,
  studies,
  submitStudy,
  trialRungs,
  trials,
} from '@braintune/coordinator';
import { tinyStudyYaml } from '../packages/worker/test/tiny-study.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(REPO, 'packages/cli/src/main.ts');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const MINUTES = Number(arg('minutes') ?? 10);
const WORKERS = Number(arg('workers') ?? 2);
const WORKER_KILL_MS = 30_000;
const COORDINATOR_RESTART_MS = 120_000;
const CONCURRENT_STUDIES = 3;
/** Hyperband(3,3,1): 5 trials, 6 rungs, 11 epochs. */
const PLAN = { trials: 5, rungs: 6, epochs: 11 };
const log = (...parts: unknown[]): void =>
  console.error(`[bench:soak ${new Date().toISOString().slice(11, 19)}]`, ...parts);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function makeImages(dir: string): Promise<void> {
  for (const [cls, top] of [
    ['bright_top', true],
    ['bright_bottom', false],
  ] as const) {
    await mkdir(path.join(dir, cls), { recursive: true });
    for (let i = 0; i < 24; i++) {
      const px = Buffer.alloc(144);
      for (let y = 0; y < 12; y++)
        for (let x = 0; x < 12; x++)
          px[y * 12 + x] = (y < 6 === top ? 200 : 40) + ((x * 7 + y * 13 + i * 31) % 37);
      await sharp(px, { raw: { width: 12, height: 12, channels: 1 } })
        .png()
        .toFile(path.join(dir, cls, `${i}.png`));
    }
  }
}

const id = randomBytes(3).toString('hex');
const admin = process.env.BRAINTUNE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbUrl = new URL(admin);
dbUrl.pathname = `/bt_soak_${id}`;
const databaseUrl = dbUrl.href;
const prefix = `bt-soak-${id}`;
const tmp = await mkdtemp(path.join(tmpdir(), 'braintune-soak-'));
const dataDir = path.join(tmp, 'data');
await makeImages(dataDir);
process.env.BRAINTUNE_DATA_ROOTS = tmp;
const env: NodeJS.ProcessEnv = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  BRAINTUNE_QUEUE_PREFIX: prefix,
  ARTIFACT_ROOT: path.join(tmp, 'artifacts'),
  BRAINTUNE_DATA_ROOTS: tmp,
  BRAINTUNE_BACKEND: 'wasm',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
};
await migrateDatabase(databaseUrl);
const database = openDatabase(databaseUrl, { max: 2 });
const db = database.db;

const spawnCli = (args: string[]): ChildProcess =>
  spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'ignore', process.env.SOAK_VERBOSE ? 'inherit' : 'ignore'],
  });
const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => c.once('exit', () => r()));

let stopping = false;
let workerKills = 0;
let coordinatorRestarts = 0;
const workers: ChildProcess[] = [];
const startWorker = (slot: number): void => {
  // Short locks: a killed worker's rung goes back to the queue within seconds.
  const w = spawnCli(['worker', '--concurrency', '1', '--lock-ms', '5000', '--stalled-interval-ms', '2000']);
  workers[slot] = w;
  w.once('exit', () => {
    if (!stopping) setTimeout(() => !stopping && startWorker(slot), 500);
  });
};
const port = await freePort();
let coordinator = spawnCli(['coordinator', '--port', String(port)]);
for (let i = 0; i < WORKERS; i++) startWorker(i);

const studyYaml = (n: number): string =>
  tinyStudyYaml({
    name: `soak-${n}`,
    dataDir,
    scheduler: '{type: hyperband, maxEpochs: 3, factor: 3, iterations: 1}',
    seed: n,
  });

const submitted: string[] = [];
let next = 1;
const submitOne = async (): Promise<void> => {
  const { studyId } = await submitStudy(db, defaultStudyFactory, studyYaml(next++));
  submitted.push(studyId);
  log(`submitted ${studyId}`);
};
const stateOf = async (studyId: string): Promise<string> =>
  (await db.select({ state: studies.state }).from(studies).where(eq(studies.id, studyId)))[0]?.state ??
  'missing';
const open = async (): Promise<string[]> => {
  const out: string[] = [];
  for (const s of submitted) if (['preparing', 'running'].includes(await stateOf(s))) out.push(s);
  return out;
};

const workerKiller = setInterval(() => {
  const alive = workers.filter((w) => w && w.exitCode === null && w.signalCode === null);
  const victim = alive[Math.floor(Math.random() * alive.length)];
  if (victim?.kill('SIGKILL')) workerKills++;
}, WORKER_KILL_MS);
const coordinatorRestarter = setInterval(() => {
  void (async () => {
    coordinator.kill('SIGKILL');
    await exited(coordinator);
    coordinatorRestarts++;
    log('coordinator killed; restarting it');
    coordinator = spawnCli(['coordinator', '--port', String(port)]);
  })();
}, COORDINATOR_RESTART_MS);

const started = Date.now();
const deadline = started + MINUTES * 60_000;
for (let i = 0; i < CONCURRENT_STUDIES; i++) await submitOne();
while (Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 2000));
  const running = await open();
  for (let i = running.length; i < CONCURRENT_STUDIES && Date.now() < deadline; i++) await submitOne();
}
clearInterval(workerKiller);
clearInterval(coordinatorRestarter);
log('time is up: waiting for the studies in flight (no more kills)');
const drainDeadline = Date.now() + 10 * 60_000;
while ((await open()).length > 0 && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 2000));

// ------------------------------------------------------------------ audit
let studiesCompleted = 0;
let studiesFailed = 0;
let unfinished = 0;
let lostResults = 0;
let duplicateResults = 0;
for (const s of submitted) {
  const state = await stateOf(s);
  if (state === 'completed') studiesCompleted++;
  else if (state === 'failed') studiesFailed++;
  else unfinished++;
  if (state !== 'completed') continue;
  const count = async (q: Promise<{ n: number }[]>) => (await q)[0]?.n ?? 0;
  const n = sql<number>`count(*)::int`;
  const evals = await count(db.select({ n }).from(evaluations).where(eq(evaluations.studyId, s)));
  const epochs = await count(db.select({ n }).from(epochMetrics).where(eq(epochMetrics.studyId, s)));
  const doneRungs = await count(
    db
      .select({ n })
      .from(trialRungs)
      .where(sql`${trialRungs.studyId} = ${s} and ${trialRungs.status} = 'completed'`),
  );
  const epochsTrained = await count(
    db
      .select({ n: sql<number>`coalesce(sum(${trials.epochsDone}), 0)::int` })
      .from(trials)
      .where(eq(trials.studyId, s)),
  );
  const lost =
    Math.max(0, PLAN.rungs - doneRungs) + Math.max(0, PLAN.rungs - evals) + Math.max(0, PLAN.epochs - epochs);
  const dup =
    Math.max(0, evals - PLAN.rungs) +
    Math.max(0, epochs - PLAN.epochs) +
    Math.max(0, epochsTrained - PLAN.epochs);
  if (lost || dup)
    log(
      `study ${s}: rungs ${doneRungs}, evaluations ${evals}, epoch rows ${epochs}, epochs ${epochsTrained}`,
    );
  lostResults += lost;
  duplicateResults += dup;
}

stopping = true;
coordinator.kill('SIGKILL');
for (const w of workers) w?.kill('SIGKILL');
await Promise.all([coordinator, ...workers].filter(Boolean).map(exited));
await database.close();
const redis = createRedis(env.REDIS_URL!);
await deleteKeysWithPrefix(redis, prefix);
redis.disconnect();
await dropDatabase(databaseUrl);
await rm(tmp, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: 'soak',
    minutes: MINUTES,
    wallSeconds: Math.round((Date.now() - started) / 1000),
    workers: WORKERS,
    studiesSubmitted: submitted.length,
    studiesCompleted,
    studiesFailed,
    studiesUnfinished: unfinished,
    lostResults,
    duplicateResults,
    workerKills,
    coordinatorRestarts,
  }),
);
process.exit(0);
