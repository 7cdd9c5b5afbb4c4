import { Redis } from 'ioredis';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import {
  ensureDatabaseExists,
  epochMetrics,
  evaluations,
  migrateDatabase,
  openDatabase,
  studies,
  trialRungs,
  trials,
  workers,
  type Database,
  type Db,
} from '@braintune/coordinator';
import {
  resolveHyperparameters,
  trialJobId,
  type ClassificationReport,
  type TestSetScores,
} from '@braintune/protocol';

export const CLASSES = ['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor'];
const ADMIN_URL = process.env.TEST_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh, migrated database of its own for one test file (or bench run); drop() removes it. */
export async function createTestDatabase(
  name: string,
): Promise<{ url: string; database: Database; drop(): Promise<void> }> {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await dropDatabase(name);
  await ensureDatabaseExists(url.href);
  await migrateDatabase(url.href);
  const opened = openDatabase(url.href);
  let closed = false;
  const database: Database = {
    ...opened,
    close: async () => {
      if (closed) return;
      closed = true;
      await opened.close();
    },
  };
  return {
    url: url.href,
    database,
    drop: async () => {
      await database.close();
      await dropDatabase(name);
    },
  };
}

async function dropDatabase(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A deterministic pseudo-random sequence so seeded studies look the same every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function reportFor(matrix: number[][], classes = CLASSES): ClassificationReport {
  const k = classes.length;
  const support = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const predicted = classes.map((_, j) => matrix.reduce((a, row) => a + (row[j] ?? 0), 0));
  const total = support.reduce((a, b) => a + b, 0);
  const perClass: ClassificationReport['perClass'] = {};
  let correct = 0;
  classes.forEach((c, i) => {
    const tp = matrix[i]![i]!;
    correct += tp;
    const precision = predicted[i] ? tp / predicted[i]! : 0;
    const recall = support[i] ? tp / support[i]! : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[c] = { precision, recall, f1, support: support[i]! };
  });
  const avg = (key: 'precision' | 'recall' | 'f1', weighted: boolean) =>
    classes.reduce((a, c, i) => a + perClass[c]![key] * (weighted ? support[i]! / total : 1 / k), 0);
  return {
    classes,
    perClass,
    accuracy: correct / total,
    macroAvg: {
      precision: avg('precision', false),
      recall: avg('recall', false),
      f1: avg('f1', false),
      support: total,
    },
    weightedAvg: {
      precision: avg('precision', true),
      recall: avg('recall', true),
      f1: avg('f1', true),
      support: total,
    },
  };
}

/**
 * Test-set scores whose diagonal share is `quality` (the seed uses 1.4 minus the validation
 * quality, so the best trial by the objective is among the worst on the test sets).
 */
export function testScoresFor(names: readonly string[], quality: number): TestSetScores | null {
  if (names.length === 0) return null;
  const q = Math.min(0.95, Math.max(0.05, quality));
  const matrix = CLASSES.map((_, t) =>
    CLASSES.map((__, p) => (p === t ? Math.round(10 * q) : Math.round((10 * (1 - q)) / 3))),
  );
  const report = reportFor(matrix);
  const score = {
    accuracy: report.accuracy,
    macroF1: report.macroAvg.f1,
    perClass: report.perClass,
    confusionMatrix: matrix,
    images: report.macroAvg.support,
  };
  return Object.fromEntries(names.map((n) => [n, score]));
}

export interface SeedOptions {
  studyId: string;
  name?: string;
  trials: number;
  /** Epochs of the completed trials. */
  epochs?: number;
  /** Trials left running (the last ones). */
  running?: number;
  seed?: number;
  /** Checkpoint key per trial (default checkpoints/<study>/<trial>). */
  checkpointKey?: (trialId: string) => string;
  constraintMin?: number;
  /** External test sets (names): scored for every finished trial, anti-correlated with the objective. */
  testSets?: string[];
}

/**
 * Inserts a study as the coordinator would have recorded it: trials with sampled
 * hyperparameters, rungs (a Hyperband-like ladder), per-epoch metrics, evaluations with
 * confusion matrices, and two workers. Used by the API/browser tests and the 500-trial bench.
 */
export async function seedStudy(
  db: Db,
  options: SeedOptions,
): Promise<{ trialIds: string[]; bestTrialId: string }> {
  const rand = lcg(options.seed ?? 1);
  const epochs = options.epochs ?? 9;
  const running = options.running ?? 0;
  const constraintMin = options.constraintMin ?? 0.8;
  const config = {
    name: options.name ?? 'seeded study',
    dataset: { path: '/data', valFraction: 0.2, seed: 1 },
    searchSpace: {},
    scheduler: { type: 'hyperband', maxEpochs: epochs, factor: 3, iterations: 1 },
    objective: { metric: 'val_macro_f1', direction: 'max' },
    constraints: [{ metric: 'val_recall:glioma_tumor', min: constraintMin }],
    budget: { maxTrials: null, maxWallClockMinutes: null },
    evaluation: { testSets: (options.testSets ?? []).map((name) => ({ name, path: `/external/${name}` })) },
    seed: 1,
  };
  const now = Date.now();
  await db.insert(studies).values({
    id: options.studyId,
    name: config.name,
    config,
    source: config,
    state: running > 0 ? 'running' : 'completed',
    dataset: { hash: 'a'.repeat(64), imageSize: 32, classes: CLASSES },
    plannedRungs: options.trials + Math.ceil(options.trials / 3),
    startedAt: new Date(now - 3_600_000),
    finishedAt: running > 0 ? null : new Date(now),
  });
  await db
    .insert(workers)
    .values([
      {
        id: 'worker-a',
        host: 'node-1',
        pid: 101,
        backend: 'wasm',
        device: 'cpu',
        lastHeartbeat: new Date(now),
        currentTrial: null,
        imagesPerSecond: 41.5,
      },
      {
        id: 'worker-b',
        host: 'node-1',
        pid: 102,
        backend: 'wasm',
        device: 'cpu',
        lastHeartbeat: new Date(now),
        currentTrial: null,
        imagesPerSecond: 39.8,
      },
    ])
    .onConflictDoNothing();

  const trialIds: string[] = [];
  const trialRows: (typeof trials.$inferInsert)[] = [];
  const rungRows: (typeof trialRungs.$inferInsert)[] = [];
  const epochRows: (typeof epochMetrics.$inferInsert)[] = [];
  const evalRows: (typeof evaluations.$inferInsert)[] = [];
  for (let i = 0; i < options.trials; i++) {
    const id = `${options.studyId}:${i}`;
    trialIds.push(id);
    const isRunning = i >= options.trials - running;
    const promoted = !isRunning && i % 3 === 0;
    const done = isRunning ? 1 : promoted ? epochs : Math.max(1, Math.round(epochs / 3));
    const quality = 0.45 + 0.5 * rand();
    const hp = resolveHyperparameters({
      imageSize: 32,
      learningRate: Number((10 ** (-4 + 2 * rand())).toPrecision(3)),
      denseUnits: [32, 64, 128][Math.floor(rand() * 3)]!,
      baseFilters: [8, 16][Math.floor(rand() * 2)]!,
      convDropout: Number((0.4 * rand()).toFixed(2)),
    });
    // Validation confusion matrix: 40 scans per class, diagonal share = quality.
    const matrix = CLASSES.map((_, t) =>
      CLASSES.map((__, p) => (p === t ? Math.round(40 * quality) : Math.round((40 * (1 - quality)) / 3))),
    );
    const report = reportFor(matrix);
    const meets = report.perClass.glioma_tumor!.recall >= constraintMin;
    const score = isRunning ? null : report.macroAvg.f1;
    trialRows.push({
      id,
      studyId: options.studyId,
      index: i,
      bracket: i % 3,
      iteration: 0,
      hyperparameters: hp,
      hpHash: `hash-${i}`,
      seed: i,
      checkpointKey: options.checkpointKey?.(id) ?? `checkpoints/${options.studyId}/${i}`,
      status: isRunning ? 'running' : promoted ? 'completed' : 'stopped',
      currentRung: promoted ? 1 : 0,
      epochsDone: done,
      workerId: i % 2 ? 'worker-a' : 'worker-b',
      score,
      meetsConstraints: isRunning ? null : meets,
      valMacroF1: isRunning ? null : report.macroAvg.f1,
      valAccuracy: isRunning ? null : report.accuracy,
      valLoss: isRunning ? null : 1.4 - quality,
      testScores: isRunning ? null : testScoresFor(options.testSets ?? [], 1.4 - quality),
    });
    const rungs = promoted
      ? [
          { rung: 0, from: 0, to: Math.max(1, Math.round(epochs / 3)) },
          { rung: 1, from: Math.max(1, Math.round(epochs / 3)), to: epochs },
        ]
      : [{ rung: 0, from: 0, to: Math.max(1, Math.round(epochs / 3)) }];
    for (const r of rungs) {
      rungRows.push({
        trialId: id,
        studyId: options.studyId,
        rung: r.rung,
        fromEpoch: r.from,
        toEpoch: r.to,
        status: isRunning ? 'running' : 'completed',
        score,
        meetsConstraints: meets,
        jobId: trialJobId(id, r.rung),
        workerId: i % 2 ? 'worker-a' : 'worker-b',
      });
      if (!isRunning) {
        evalRows.push({
          trialId: id,
          studyId: options.studyId,
          rung: r.rung,
          jobId: trialJobId(id, r.rung),
          epoch: r.to,
          classes: CLASSES,
          confusionMatrix: matrix,
          report,
          loss: 1.4 - quality,
        });
      }
    }
    for (let e = 1; e <= done; e++) {
      const progress = e / epochs;
      const f1 = Math.min(
        0.99,
        report.macroAvg.f1 * (0.55 + 0.45 * Math.sqrt(progress)) + 0.02 * (rand() - 0.5),
      );
      epochRows.push({
        trialId: id,
        studyId: options.studyId,
        rung: e <= Math.round(epochs / 3) ? 0 : 1,
        epoch: e,
        loss: 1.3 - 0.8 * quality * progress,
        accuracy: 0.4 + 0.5 * quality * progress,
        valLoss: 1.4 - 0.9 * quality * progress + 0.03 * rand(),
        valAccuracy: f1 + 0.01,
        valMacroF1: f1,
        valRecall: Object.fromEntries(CLASSES.map((c) => [c, f1])),
        trainImagesPerSecond: 40,
        durationMs: 20_000 + 5000 * rand(),
        workerId: i % 2 ? 'worker-a' : 'worker-b',
      });
    }
  }
  for (const [table, rows] of [
    [trials, trialRows],
    [trialRungs, rungRows],
    [epochMetrics, epochRows],
    [evaluations, evalRows],
  ] as const) {
    for (let i = 0; i < rows.length; i += 500) await db.insert(table).values(rows.slice(i, i + 500) as never);
  }
  // The best as the leaderboard and `promote` define it: constraints met, objective, longer training, index.
  const ranked = trialRows
    .filter((t) => t.score !== null && t.score !== undefined)
    .sort(
      (a, b) =>
        Number(b.meetsConstraints) - Number(a.meetsConstraints) ||
        b.score! - a.score! ||
        b.epochsDone! - a.epochsDone! ||
        a.index - b.index,
    );
  return { trialIds, bestTrialId: ranked[0]?.id ?? '' };
}

/** What the coordinator does after recording an event: tell listeners the study changed. */
export async function notifyStudy(db: Db, studyId: string): Promise<void> {
  await db.execute(sql`SELECT pg_notify('braintune_events', ${studyId})`);
}

/** Removes every Redis key under a test's BullMQ prefix (the queue's `meta` key and any job). */
export async function clearRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}
