/**
 * `npm run bench:search [-- --quick] [--data DIR] [--workers 2] [--only hyperband,bohb]`: Hyperband,
 * ASHA, random search and BOHB (Hyperband with the model-based sampler) on the shared brain-MRI
 * data set at 64 px, with the same search space (bench/data/search-space.yaml, frozen so that
 * rows of different runs compare), the same seed and the same total epoch budget, run one
 * after the other through the real system (`braintune up --workers 2`: coordinator, API,
 * BullMQ, Postgres and two worker processes).
 *
 * Equal budgets (maxEpochs R = 9, factor η = 3):
 * - Hyperband (9, 3, 1), KerasTuner's plan: 9·1 + 3·2 + 1·6 + 5·3 + 2·6 + 3·9 = 75 epochs.
 * - ASHA (max 9, min 1, η 3) has no fixed epoch count: a trial in the current top 1/η of its rung
 *   is promoted, and a later, better result promotes another, so N trials cost at least
 *   N + ⌊N/3⌋·2 + ⌊N/9⌋·6 epochs and often more (in a smoke run 7 trials at R = 3 cost 17 epochs,
 *   not 11). So ASHA gets a generous trial cap (60) and the bench cancels it once 75 epochs are
 *   recorded; running rungs stop after their epoch, and those last epochs (at most one per
 *   worker) are counted in `epochsSpent`, as a budget-capped run would spend them.
 * - BOHB: Hyperband's plan and budget, trials proposed by `sampler: {type: bohb}` (docs/search.md).
 * - Random with 9 epochs per trial (the longest Hyperband training): round(75 / 9) = 8 trials, 72 epochs.
 * `--quick` uses R = 3: Hyperband (3, 3, 1) = 3·1 + 1·2 + 2·3 = 11 epochs; ASHA capped at 11
 * epochs (up to 20 trials); random round(11 / 3) = 4 trials × 3 = 12 epochs.
 *
 * Per scheduler: best val macro-F1 and val accuracy (final evaluation of each trial), total
 * epochs trained, epochs trained (in recording order, across both workers) until some epoch first
 * reached val accuracy ≥ 0.90 (null if none did), and the study's wall time (dataset ready →
 * completed). Progress and per-scheduler rows go to stderr; the last stdout line is one JSON object.
 * Without the data set it prints why and a JSON line with `skipped: true`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  deleteKeysWithPrefix,
  dropDatabase,
  StudySummarySchema,
  SubmitResponseSchema,
  TrialRowSchema,
} from '@braintune/coordinator';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TARGET_ACCURACY = 0.9;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const quick = process.argv.includes('--quick');
const dataDir = path.resolve(
  REPO,
  arg('data') ?? process.env.BRAINTUNE_BENCH_DATA ?? '../shared/datasets/brain-tumor-mri',
);
const workers = Number(arg('workers') ?? 2);
const port = Number(arg('port') ?? 18_790);

const log = (...parts: unknown[]): void => console.error('[bench:search]', ...parts);

if (!existsSync(dataDir)) {
  log(`data set not found at ${dataDir}: skipping (pass --data DIR or set BRAINTUNE_BENCH_DATA)`);
  console.log(JSON.stringify({ bench: 'search', skipped: true, reason: `no data set at ${dataDir}` }));
  process.exit(0);
}

// --- The three studies: same space, seed and data; schedulers sized to the same epoch budget.
const maxEpochs = quick ? 3 : 9;
const factor = 3;
const hyperbandEpochs = quick ? 11 : 75; // KerasTuner's plan, see the header (asserted in the coordinator's tests)
/** Schedulers whose study the bench cancels once the epoch budget is spent. */
const capped: ReadonlySet<string> = new Set(['asha']);
const schedulers = {
  hyperband: { type: 'hyperband', maxEpochs, factor, iterations: 1 },
  asha: { type: 'asha', maxEpochs, minEpochs: 1, factor, maxTrials: quick ? 20 : 60 },
  random: { type: 'random', epochs: maxEpochs, maxTrials: Math.round(hyperbandEpochs / maxEpochs) },
  bohb: { type: 'hyperband', maxEpochs, factor, iterations: 1 },
} as const;
type SchedulerName = keyof typeof schedulers;
const samplers: Partial<Record<SchedulerName, { type: string }>> = { bohb: { type: 'bohb' } };
const only = arg('only')?.split(',') ?? Object.keys(schedulers);
const unknown = only.filter((name) => !Object.hasOwn(schedulers, name));
if (unknown.length > 0)
  throw new Error(`--only: unknown ${unknown.join(', ')}; use some of ${Object.keys(schedulers).join(', ')}`);

const example = parseYaml(await readFile(path.join(REPO, 'bench/data/search-space.yaml'), 'utf8')) as Record<
  string,
  unknown
>;
function studyFor(name: SchedulerName): Record<string, unknown> {
  return {
    ...example,
    name: `bench-search-${name}${quick ? '-quick' : ''}`,
    dataset: { ...(example.dataset as object), path: dataDir, imageSize: 64 },
    scheduler: schedulers[name],
    ...(samplers[name] ? { sampler: samplers[name] } : {}),
    // Ranking by val macro-F1 alone, so "best" means the same for all three.
    constraints: [],
    budget: { maxTrials: null, maxWallClockMinutes: null },
  };
}

// --- The cluster: `braintune up` on its own database, Redis prefix and artifact root.
const PREFIX = 'bench-search';
const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/braintune_bench_search';
const baseUrl = `http://127.0.0.1:${port}`;
const env: NodeJS.ProcessEnv = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  BRAINTUNE_QUEUE_PREFIX: PREFIX,
  // Kept between runs: the 64 px dataset bundle is prepared once.
  ARTIFACT_ROOT: path.join(REPO, '.braintune/bench-search/artifacts'),
  PORT: String(port),
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  // The data set lives outside the default data roots (./data, the demo folder).
  BRAINTUNE_DATA_ROOTS: dataDir,
};

/** A fresh start: no database, and no jobs or results of an earlier (interrupted) run in Redis. */
async function resetState(): Promise<void> {
  const redis = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  await deleteKeysWithPrefix(redis, PREFIX);
  redis.disconnect();
  await dropDatabase(databaseUrl);
}

async function call(method: 'GET' | 'POST', urlPath: string, body?: object): Promise<unknown> {
  const res = await fetch(new URL(urlPath, baseUrl), {
    method,
    headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json: unknown = await res.json();
  if (!res.ok) throw new Error(`${method} ${urlPath}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function waitForApi(up: ChildProcess): Promise<void> {
  for (let i = 0; i < 240; i++) {
    if (up.exitCode !== null) throw new Error(`braintune up exited with code ${up.exitCode}`);
    const online = await call('GET', '/api/workers')
      .then(
        (w) =>
          z
            .array(z.object({ online: z.boolean() }))
            .parse(w)
            .filter((x) => x.online).length,
      )
      .catch(() => -1);
    if (online >= workers) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the cluster did not come up within 2 minutes');
}

/** Epoch rows of a study in the order they were recorded (what the cluster spent, in time order). */
async function epochsInOrder(studyId: string): Promise<{ valAccuracy: number; valMacroF1: number }[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ val_accuracy: number; val_macro_f1: number }>(
      'SELECT val_accuracy, val_macro_f1 FROM epoch_metrics WHERE study_id = $1 ORDER BY id',
      [studyId],
    );
    return rows.map((r) => ({ valAccuracy: r.val_accuracy, valMacroF1: r.val_macro_f1 }));
  } finally {
    await client.end();
  }
}

const round = (x: number | null, digits = 4): number | null =>
  x === null ? null : Number(x.toFixed(digits));

async function runStudy(name: SchedulerName) {
  const submitted = SubmitResponseSchema.parse(await call('POST', '/api/studies', studyFor(name)));
  log(`${name}: study ${submitted.studyId} submitted (${submitted.plannedRungs ?? '?'} rungs planned)`);
  let summary = StudySummarySchema.parse(await call('GET', `/api/studies/${submitted.studyId}`));
  let lastLine = '';
  let cancelled = false;
  while (!['completed', 'failed', 'cancelled'].includes(summary.state)) {
    await new Promise((r) => setTimeout(r, 2000));
    summary = StudySummarySchema.parse(await call('GET', `/api/studies/${submitted.studyId}`));
    if (capped.has(name) && !cancelled && summary.state === 'running' && summary.epochs >= hyperbandEpochs) {
      log(`${name}: ${summary.epochs} epochs spent, the budget: cancelling the study`);
      await call('POST', `/api/studies/${submitted.studyId}/cancel`);
      cancelled = true;
    }
    const line = `${name}: ${summary.state}, ${summary.rungs.completed} rungs, ${summary.epochs} epochs, best F1 ${summary.best?.valMacroF1?.toFixed(3) ?? '—'}`;
    if (line !== lastLine) log(line);
    lastLine = line;
  }
  // A cancelled study stops its running rungs after their epoch: let those epochs land (and free
  // the workers) before counting and before the next study starts.
  for (let i = 0; cancelled && summary.trials.running > 0 && i < 90; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    summary = StudySummarySchema.parse(await call('GET', `/api/studies/${submitted.studyId}`));
  }
  const trials = z
    .array(TrialRowSchema)
    .parse(await call('GET', `/api/studies/${submitted.studyId}/trials?sort=objective`));
  const epochs = await epochsInOrder(submitted.studyId);
  const firstHit = epochs.findIndex((e) => e.valAccuracy >= TARGET_ACCURACY);
  const max = (values: (number | null)[]): number | null =>
    values.reduce<number | null>((m, v) => (v !== null && (m === null || v > m) ? v : m), null);
  const started = summary.startedAt ? Date.parse(summary.startedAt) : Date.parse(summary.createdAt);
  const finished = summary.finishedAt ? Date.parse(summary.finishedAt) : Date.now();
  const row = {
    scheduler: name,
    config: schedulers[name],
    sampler: samplers[name] ?? { type: 'random' },
    studyId: submitted.studyId,
    state: summary.state,
    stoppedAtBudget: cancelled,
    trials: summary.trials.total,
    rungs: summary.rungs.completed,
    bestValMacroF1: round(max(trials.map((t) => t.valMacroF1))),
    bestValAccuracy: round(max(trials.map((t) => t.valAccuracy))),
    bestTrial: trials[0]
      ? { trialId: trials[0].trialId, epochs: trials[0].epochs, hyperparameters: trials[0].hyperparameters }
      : null,
    epochsSpent: epochs.length,
    epochsToAccuracy090: firstHit < 0 ? null : firstHit + 1,
    // Best over every evaluated epoch, including intermediate epochs of a rung.
    bestEpochValAccuracy: round(max(epochs.map((e) => e.valAccuracy))),
    wallSeconds: Math.round((finished - started) / 100) / 10,
  };
  log(JSON.stringify(row));
  return row;
}

const loadBefore = loadavg();
await resetState();
const cli = path.join(REPO, 'packages/cli/src/main.ts');
const up = spawn(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', cli, 'up', '--workers', String(workers), '--port', String(port)],
  {
    cwd: REPO,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
const stopCluster = async (): Promise<void> => {
  if (up.exitCode !== null || up.signalCode !== null) return;
  const exited = new Promise((r) => up.once('exit', r));
  up.kill('SIGTERM');
  await exited;
};
process.once('SIGINT', () => void stopCluster().then(() => process.exit(130)));

const started = performance.now();
const results = [];
try {
  await waitForApi(up);
  for (const name of only as SchedulerName[]) results.push(await runStudy(name));
} finally {
  await stopCluster();
}
console.log(
  JSON.stringify({
    bench: 'search',
    quick,
    dataDir,
    imageSize: 64,
    workers,
    targetAccuracy: TARGET_ACCURACY,
    epochBudget: hyperbandEpochs,
    results,
    totalSeconds: Math.round((performance.now() - started) / 1000),
    loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: loadavg().map((x) => round(x, 2)) },
  }),
);
