/**
 * `npm run bench:dashboard`: the dashboard and the API under a study of 10,000 trials
 * (BENCH_TRIALS; inserted directly in Postgres, 9 epochs each for the promoted ones): time to
 * compute a leaderboard page (first and deep), an API trial page ranked by objective, the
 * leaderboard's first paint in headless Chromium, and the latency of a live update (Postgres
 * NOTIFY → SSE delta → the page re-rendered). Prints one JSON object as its last line.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { chromium } from 'playwright-core';
import { trials } from '@braintune/coordinator';
import { readEnv } from '@braintune/protocol';
import { startDashboardServer } from '@braintune/dashboard';
import {
  clearRedisPrefix,
  createTestDatabase,
  notifyStudy,
  seedStudy,
} from '../packages/dashboard/test/fixtures.js';

process.env.LOG_LEVEL ??= 'warn';
const TRIALS = Number(process.env.BENCH_TRIALS ?? 10_000);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const studyId = 'st-bench';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const p95 = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)] ?? NaN;
const round = (x: number) => Math.round(x * 10) / 10;

const tdb = await createTestDatabase(`bt_dash_bench_${process.pid}`);
const artifacts = await mkdtemp(join(tmpdir(), 'braintune-bench-dash-'));
const server = await startDashboardServer(
  readEnv({
    ...process.env,
    DATABASE_URL: tdb.url,
    ARTIFACT_ROOT: artifacts,
    REDIS_URL: 'redis://127.0.0.1:6379/10',
    BRAINTUNE_QUEUE_PREFIX: `bench-dash-${process.pid}`,
  }),
  { port: 0, migrate: false },
);
const result: Record<string, unknown> = { trials: TRIALS };
try {
  const seedStart = performance.now();
  const { bestTrialId } = await seedStudy(tdb.database.db, {
    studyId,
    trials: TRIALS,
    epochs: 9,
    running: 20,
    seed: 42,
  });
  const [{ n } = { n: 0 }] = (
    await tdb.database.db.execute<{ n: number }>(
      `SELECT count(*)::int AS n FROM epoch_metrics WHERE study_id = '${studyId}'`,
    )
  ).rows;
  result.epochRows = n;
  result.seedMs = round(performance.now() - seedStart);
  // Autovacuum would analyse a table grown this much; the bench does not wait for it.
  await tdb.database.db.execute('ANALYZE');

  // Server side: the pages the leaderboard and the CLI are drawn from.
  const timed = async (path: string, runs = 7) => {
    const ms: number[] = [];
    let bytes = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const res = await fetch(`${server.url}${path}`);
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      bytes = (await res.arrayBuffer()).byteLength;
      ms.push(performance.now() - t0);
    }
    return { medianMs: round(median(ms)), p95Ms: round(p95(ms)), bytes };
  };
  result.snapshotApi = await timed(`/api/ui/studies/${studyId}`);
  result.snapshotDeepPageApi = await timed(`/api/ui/studies/${studyId}?offset=${Math.max(0, TRIALS - 100)}`);
  result.trialsByObjectiveApi = await timed(`/api/studies/${studyId}/trials?sort=objective&limit=100`);
  result.trialsDeepPageApi = await timed(
    `/api/studies/${studyId}/trials?sort=objective&limit=100&offset=${Math.max(0, TRIALS - 100)}`,
  );
  result.studiesApi = await timed('/api/studies');

  // SSE without a browser: NOTIFY → delta received (after the stream's opening snapshot).
  const sseMs: number[] = [];
  const deltaBytes: number[] = [];
  {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/api/studies/${studyId}/events`, { signal: controller.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const next = async (kind: string): Promise<string> => {
      const pattern = new RegExp(`event: ${kind}\ndata: ([^\n]*)\n\n`);
      while (!pattern.test(buffer)) buffer += decoder.decode((await reader.read()).value, { stream: true });
      const match = pattern.exec(buffer)!;
      buffer = buffer.slice(match.index + match[0].length);
      return match[1]!;
    };
    result.sseSnapshotBytes = (await next('snapshot')).length;
    for (let i = 0; i < 7; i++) {
      await tdb.database.db
        .update(trials)
        .set({ workerId: `bench-${i}`, updatedAt: new Date() })
        .where(eq(trials.id, bestTrialId));
      const t0 = performance.now();
      await notifyStudy(tdb.database.db, studyId);
      deltaBytes.push((await next('delta')).length);
      sseMs.push(performance.now() - t0);
    }
    controller.abort();
  }
  result.sseServer = {
    medianMs: round(median(sseMs)),
    p95Ms: round(p95(sseMs)),
    deltaBytes: median(deltaBytes),
  };

  if (!existsSync(CHROMIUM)) {
    result.browser = `skipped: no Chromium at ${CHROMIUM}`;
  } else {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const firstPaint: number[] = [];
      for (let i = 0; i < 3; i++) {
        await page.goto(`${server.url}/studies/${studyId}`);
        await page.waitForFunction(() => document.body.dataset.firstPaint !== undefined, undefined, {
          timeout: 60_000,
        });
        // performance.now() at the first render counts from the navigation start.
        firstPaint.push(Number(await page.evaluate(() => document.body.dataset.firstPaint)));
      }
      const rows = await page.$$eval('#leaderboard-body tr[data-trial]', (r) => r.length);
      await mkdir(join('test-output', 'dashboard'), { recursive: true });
      await page.screenshot({
        path: join('test-output', 'dashboard', `study-${TRIALS}-trials.png`),
        fullPage: true,
      });
      await page.waitForFunction(() => document.querySelector('#live')?.classList.contains('on'));
      // The stream opens with a snapshot (a second render after the first paint's fetch).
      await page.waitForFunction(() => Number(document.body.dataset.updates) >= 2);
      const update: number[] = [];
      for (let i = 0; i < 7; i++) {
        const before = Number(await page.evaluate(() => document.body.dataset.updates));
        // A change on the first page: the delta carries that row.
        await tdb.database.db
          .update(trials)
          .set({ workerId: `page-${i}`, updatedAt: new Date() })
          .where(eq(trials.id, bestTrialId));
        const t0 = Date.now();
        await notifyStudy(tdb.database.db, studyId);
        await page.waitForFunction((n) => Number(document.body.dataset.updates) > n, before, {
          timeout: 30_000,
        });
        update.push(Number(await page.evaluate(() => document.body.dataset.renderedAt)) - t0);
      }
      // The next leaderboard page (ranks 101–200): one page fetch and a render.
      const pageStart = performance.now();
      await page.click('#page-next');
      await page.waitForFunction(() =>
        /^ranks 101–/.test(document.querySelector('#page-range')?.textContent ?? ''),
      );
      const nextPageMs = performance.now() - pageStart;
      const nextPageFirstRank = await page.textContent(
        '#leaderboard-body tr[data-trial] td[data-key="rank"]',
      );
      result.browser = {
        leaderboardRows: rows,
        nextPage: { ms: round(nextPageMs), firstRank: Number(nextPageFirstRank) },
        firstPaintMs: { median: round(median(firstPaint)), all: firstPaint.map(round) },
        sseUpdateToRenderMs: { median: round(median(update)), p95: round(p95(update)), all: update },
      };
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.close();
  await clearRedisPrefix('redis://127.0.0.1:6379/10', `bench-dash-${process.pid}`);
  await tdb.drop();
  await rm(artifacts, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
