/**
 * A real cluster for end-to-end tests: a fresh Postgres database, an isolated Redis key
 * prefix (or db index), tiny generated images, the coordinator (in-process or as a child
 * process) and worker child processes running the real CLI with model-core training.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { asc, eq, sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  Coordinator,
  createRedis,
  defaultStudyFactory,
  deleteKeysWithPrefix,
  dropDatabase,
  epochMetrics,
  evaluations,
  isConnectionLoss,
  openDatabase,
  studies,
  submitStudy,
  trialRungs,
  trials,
  type Database,
} from '@braintune/coordinator';
import { tinyStudyYaml } from './tiny-study.js';

// The in-process coordinator logs through pino too; keep test output readable.
process.env.LOG_LEVEL ??= 'warn';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI_MAIN = path.join(REPO_ROOT, 'packages/cli/src/main.ts');
const ADMIN_URL = process.env.BRAINTUNE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestCluster {
  name: string;
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  artifactRoot: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  database: Database;
  coordinator: Coordinator | null;
  coordinatorProcess: ChildProcess | null;
  workers: ChildProcess[];
  /** JSON log lines of every child process, by pid. */
  logs: Map<number, Record<string, unknown>[]>;
}

/** Two classes of 12×12 px greyscale images a tiny CNN separates within an epoch or two. */
export async function makeTinyImages(dir: string, perClass: number): Promise<void> {
  for (const [cls, corner] of [
    ['bright_top', 0],
    ['bright_bottom', 1],
  ] as const) {
    await mkdir(path.join(dir, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(12 * 12);
      for (let y = 0; y < 12; y++) {
        for (let x = 0; x < 12; x++) {
          const inBlob = corner === 0 ? y < 6 : y >= 6;
          // Per-image variation so no two files are byte-identical (duplicates are deduplicated).
          px[y * 12 + x] = (inBlob ? 200 : 40) + ((x * 7 + y * 13 + i * 31) % 37);
        }
      }
      await sharp(px, { raw: { width: 12, height: 12, channels: 1 } })
        .png()
        .toFile(path.join(dir, cls, `img-${String(i).padStart(3, '0')}.png`));
    }
  }
}

/** Adds `dir` to this process's data roots (BRAINTUNE_DATA_ROOTS), for in-process submissions. */
export function allowDataRoot(dir: string): void {
  const current = process.env.BRAINTUNE_DATA_ROOTS;
  process.env.BRAINTUNE_DATA_ROOTS = current ? `${current}${path.delimiter}${dir}` : dir;
}

export interface ClusterOptions {
  /** Redis db index (a dedicated one lets a test FLUSHDB safely). */
  redisDb?: number;
  /** Images per class (more images → longer epochs, so a crash can land mid-rung). */
  perClass?: number;
  /** Admin URL of another Postgres server (a private one, see services.ts). */
  adminUrl?: string;
  /** Another Redis server (a private one, see services.ts). */
  redisUrl?: string;
}

export async function createCluster(name: string, options: ClusterOptions = {}): Promise<TestCluster> {
  const id = `${name}_${randomBytes(3).toString('hex')}`;
  const dbName = `bt_${id}`.toLowerCase();
  const databaseUrl = new URL(options.adminUrl ?? ADMIN_URL);
  databaseUrl.pathname = `/${dbName}`;
  const redisUrl = options.redisUrl ?? `redis://127.0.0.1:6379/${options.redisDb ?? 0}`;
  const prefix = `bt-${id}`;
  const tmp = await mkdtemp(path.join(tmpdir(), `braintune-${name}-`));
  const artifactRoot = path.join(tmp, 'artifacts');
  const dataDir = path.join(tmp, 'data');
  await makeTinyImages(dataDir, options.perClass ?? 24);
  allowDataRoot(tmp);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl.href,
    REDIS_URL: redisUrl,
    BRAINTUNE_QUEUE_PREFIX: prefix,
    ARTIFACT_ROOT: artifactRoot,
    BRAINTUNE_BACKEND: 'wasm',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    BRAINTUNE_DATA_ROOTS: tmp,
  };
  // Creating the database and migrating happen in Coordinator.start / `braintune coordinator`.
  const { migrateDatabase } = await import('@braintune/coordinator');
  await migrateDatabase(databaseUrl.href);
  return {
    name,
    databaseUrl: databaseUrl.href,
    redisUrl,
    prefix,
    artifactRoot,
    dataDir,
    env,
    database: openDatabase(databaseUrl.href, { max: 4 }),
    coordinator: null,
    coordinatorProcess: null,
    workers: [],
    logs: new Map(),
  };
}

/**
 * One cluster for a whole test file: created before its tests (then `start` runs, e.g. to start
 * the coordinator and workers) and destroyed after them. Read `.cluster` inside the tests.
 */
export function useCluster(
  name: string,
  options: ClusterOptions,
  start: (c: TestCluster) => Promise<void> | void = () => undefined,
): { readonly cluster: TestCluster } {
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    cluster = await createCluster(name, options);
    await start(cluster);
  });
  afterAll(async () => {
    if (cluster) await destroyCluster(cluster);
  });
  return {
    get cluster(): TestCluster {
      if (cluster === undefined) throw new Error(`test cluster ${name} is not set up (used outside a test?)`);
      return cluster;
    },
  };
}

export async function startCoordinator(c: TestCluster): Promise<Coordinator> {
  c.coordinator = await Coordinator.start({
    databaseUrl: c.databaseUrl,
    redisUrl: c.redisUrl,
    prefix: c.prefix,
    artifactRoot: c.artifactRoot,
    studies: defaultStudyFactory,
    tickMs: 200,
    reconcileMs: 2000,
    workersMs: 500,
    migrate: false,
  });
  return c.coordinator;
}

export type LogListener = (line: Record<string, unknown>, child: ChildProcess) => void;

export function cli(
  c: TestCluster,
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
  onLog?: LogListener,
): ChildProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CLI_MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...c.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tag = `[${args[0]} ${child.pid}]`;
  const lines: Record<string, unknown>[] = [];
  c.logs.set(child.pid ?? -1, lines);
  let partial = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (process.env.TEST_VERBOSE) process.stderr.write(`${tag} ${d.toString()}`);
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        onLog?.(line, child);
      } catch {
        // not a log line
      }
    }
  });
  child.stdout?.on(
    'data',
    (d: Buffer) => process.env.TEST_VERBOSE && process.stderr.write(`${tag} ${d.toString()}`),
  );
  return child;
}

/** Runs a CLI command to completion; resolves with its exit code and stdout. */
export async function runCli(
  c: TestCluster,
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string; lastLine: string }> {
  const child = cli(c, args, extraEnv);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await exited(child);
  const lines = stdout.trim().split('\n');
  return { code, stdout, stderr, lastLine: lines[lines.length - 1] ?? '' };
}

/** A `braintune worker` process with short locks so a killed worker's rung is retried within seconds. */
export function spawnWorker(
  c: TestCluster,
  onLog?: LogListener,
  extraEnv: NodeJS.ProcessEnv = {},
): ChildProcess {
  const child = cli(
    c,
    ['worker', '--concurrency', '1', '--lock-ms', '4000', '--stalled-interval-ms', '1500'],
    extraEnv,
    onLog,
  );
  c.workers.push(child);
  return child;
}

/** `braintune coordinator` as a child process (for crash tests), API on a free port. */
export function spawnCoordinator(c: TestCluster, port: number): ChildProcess {
  c.coordinatorProcess = cli(c, ['coordinator', '--port', String(port)]);
  return c.coordinatorProcess;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 120_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Failure tests kill the sessions of the test's own pool too: a lost connection means "ask again".
    const value = await probe().catch((err: unknown) => {
      if (isConnectionLoss(err)) return null;
      throw err;
    });
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function studyYaml(c: TestCluster, scheduler: string, extra = ''): string {
  return tinyStudyYaml({ name: `e2e-${c.name}`, dataDir: c.dataDir, scheduler, extra });
}

export async function submit(c: TestCluster, yaml: string): Promise<string> {
  const { studyId } = await submitStudy(c.database.db, defaultStudyFactory, yaml);
  return studyId;
}

export async function studyState(c: TestCluster, studyId: string): Promise<string> {
  const [s] = await c.database.db
    .select({ state: studies.state })
    .from(studies)
    .where(eq(studies.id, studyId));
  return s?.state ?? 'missing';
}

export async function waitForState(
  c: TestCluster,
  studyId: string,
  state: string,
  timeoutMs = 240_000,
): Promise<void> {
  await waitFor(
    `study ${studyId} to be ${state}`,
    async () => {
      const now = await studyState(c, studyId);
      if (now === 'failed') throw new Error(`study ${studyId} failed`);
      return now === state;
    },
    timeoutMs,
    300,
  );
}

/** Waits until some rung of the study has trained at least `epochs` epochs (so a crash lands mid-study). */
export async function waitForEpochs(c: TestCluster, studyId: string, epochs: number): Promise<void> {
  await waitFor(`${epochs} epochs recorded`, async () => {
    const [row] = await c.database.db
      .select({ n: sql<number>`count(*)::int` })
      .from(epochMetrics)
      .where(eq(epochMetrics.studyId, studyId));
    return (row?.n ?? 0) >= epochs;
  });
}

export interface StudyAudit {
  trials: number;
  rungs: number;
  completedRungs: number;
  evaluations: number;
  epochRows: number;
  /** Σ over trials of epochs trained (KerasTuner's epoch total when trials warm-start). */
  epochsTrained: number;
  /** Trials whose epoch rows are not exactly 1..epochsDone. */
  gappyTrials: string[];
  /** Final epochs per trial, sorted. */
  finalEpochs: number[];
  /** Rungs per trial, sorted. */
  rungsPerTrial: number[];
  statuses: Record<string, number>;
}

/** Reads back what Postgres recorded for a study, to check counts and that nothing is doubled or missing. */
export async function auditStudy(c: TestCluster, studyId: string): Promise<StudyAudit> {
  const db = c.database.db;
  const ts = await db.select().from(trials).where(eq(trials.studyId, studyId)).orderBy(asc(trials.index));
  const rs = await db.select().from(trialRungs).where(eq(trialRungs.studyId, studyId));
  const es = await db
    .select({ trialId: epochMetrics.trialId, epoch: epochMetrics.epoch })
    .from(epochMetrics)
    .where(eq(epochMetrics.studyId, studyId));
  const ev = await db
    .select({ id: evaluations.id })
    .from(evaluations)
    .where(eq(evaluations.studyId, studyId));
  const gappy: string[] = [];
  for (const t of ts) {
    const epochs = es
      .filter((e) => e.trialId === t.id)
      .map((e) => e.epoch)
      .sort((a, b) => a - b);
    const expected = Array.from({ length: t.epochsDone }, (_, i) => i + 1);
    if (JSON.stringify(epochs) !== JSON.stringify(expected))
      gappy.push(`${t.id}: ${epochs.join(',')} vs 1..${t.epochsDone}`);
  }
  const statuses: Record<string, number> = {};
  for (const t of ts) statuses[t.status] = (statuses[t.status] ?? 0) + 1;
  return {
    trials: ts.length,
    rungs: rs.length,
    completedRungs: rs.filter((r) => r.status === 'completed').length,
    evaluations: ev.length,
    epochRows: es.length,
    epochsTrained: ts.reduce((n, t) => n + t.epochsDone, 0),
    gappyTrials: gappy,
    finalEpochs: ts.map((t) => t.epochsDone).sort((a, b) => a - b),
    rungsPerTrial: ts.map((t) => rs.filter((r) => r.trialId === t.id).length).sort((a, b) => a - b),
    statuses,
  };
}

/**
 * Asserts a study ended with exactly these counts: every rung completed and evaluated once,
 * every trained epoch recorded once, no trial with gaps in its epochs.
 */
export function expectExactAudit(
  audit: StudyAudit,
  expected: { trials: number; rungs: number; epochs: number; finalEpochs: number[] },
): void {
  expect(audit.trials).toBe(expected.trials);
  expect(audit.rungs).toBe(expected.rungs);
  expect(audit.completedRungs).toBe(expected.rungs);
  expect(audit.evaluations).toBe(expected.rungs);
  expect(audit.epochsTrained).toBe(expected.epochs);
  expect(audit.epochRows).toBe(expected.epochs);
  expect(audit.gappyTrials).toEqual([]);
  expect(audit.finalEpochs).toEqual(expected.finalEpochs);
}

export async function killAll(c: TestCluster, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const all = [...c.workers, ...(c.coordinatorProcess ? [c.coordinatorProcess] : [])];
  for (const p of all) if (p.exitCode === null && p.signalCode === null) p.kill(signal);
  await Promise.all(all.map(exited));
}

/** Stops everything, drops the database and the artifacts, deletes the Redis keys of the prefix. */
export async function destroyCluster(c: TestCluster): Promise<void> {
  await killAll(c);
  await c.coordinator?.stop().catch(() => undefined);
  await c.database.close();
  const redis = createRedis(c.redisUrl);
  await deleteKeysWithPrefix(redis, c.prefix);
  redis.disconnect();
  await dropDatabase(c.databaseUrl);
  await rm(path.dirname(c.artifactRoot), { recursive: true, force: true });
}
