import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseSearchSpace,
  SearchSpaceSampler,
  StudyAnalysisSchema,
  studies,
  trialRungs,
  trials,
  type Db,
} from '@braintune/coordinator';
import { readEnv, trialJobId } from '@braintune/protocol';
import { startDashboardServer, type DashboardServer } from '../src/index.js';
import { clearRedisPrefix, createTestDatabase, notifyStudy } from './fixtures.js';

/**
 * The search-analysis views of the study page in headless Chromium, on a study of 2,100 trials
 * (more than the 2,000 points the API returns, so the bounded sample is exercised): importance,
 * parallel coordinates, slice plots and the optimisation history, each screenshotted to
 * test-output/analysis/; then new results arrive and the views update without a reload.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const REPO = resolve(import.meta.dirname, '../../..');
const SHOTS = join(REPO, 'test-output', 'analysis');
const PREFIX = `bt-dash-analysis-${process.pid}`;
const REDIS = 'redis://127.0.0.1:6379/11';
const STUDY = 'st-analysis';
const SPACE = {
  learningRate: { type: 'float', min: 1e-4, max: 1e-1, sampling: 'log' },
  convDropout: { type: 'float', min: 0, max: 0.5, step: 0.1 },
  optimizer: ['adam', 'sgd'],
  momentum: { type: 'choice', values: [0.8, 0.9], when: { optimizer: 'sgd' } },
  'augmentation.flip': { type: 'boolean' },
};

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let server: DashboardServer;
let browser: Browser;
let page: Page;
let work: string;

/** Trials from..to-1 with one 3-epoch result each; the objective peaks at learning rate 3e-3. */
async function addTrials(db: Db, from: number, to: number): Promise<void> {
  const { space } = parseSearchSpace(SPACE);
  const sampler = new SearchSpaceSampler(space, 9);
  const pool = Array.from({ length: 200 }, (_, i) => sampler.propose(i, new Set())!.hyperparameters);
  for (let start = from; start < to; start += 500) {
    const rows = [];
    const rungs = [];
    for (let i = start; i < Math.min(to, start + 500); i++) {
      const hp = pool[i % pool.length]!;
      const score = Math.max(0, 0.9 - 0.25 * Math.abs(Math.log10(hp.learningRate) + 2.5) - (i % 7) * 0.005);
      const id = `${STUDY}:${i}`;
      rows.push({
        id,
        studyId: STUDY,
        index: i,
        hyperparameters: hp,
        hpHash: `h${i}`,
        seed: i,
        checkpointKey: `checkpoints/${STUDY}/${i}`,
        status: 'stopped' as const,
        epochsDone: 3,
        score,
      });
      rungs.push({
        trialId: id,
        studyId: STUDY,
        rung: 0,
        fromEpoch: 0,
        toEpoch: 3,
        status: 'completed' as const,
        score,
        meetsConstraints: true,
        jobId: trialJobId(id, 0),
      });
    }
    await db.insert(trials).values(rows);
    await db.insert(trialRungs).values(rungs);
  }
}

beforeAll(async () => {
  if (!hasChromium) return;
  work = await mkdtemp(join(tmpdir(), 'braintune-analysis-'));
  await mkdir(SHOTS, { recursive: true });
  tdb = await createTestDatabase(`bt_dash_analysis_${process.pid}`);
  const config = {
    name: 'analysis study',
    dataset: { path: '/data', valFraction: 0.2, seed: 1 },
    searchSpace: SPACE,
    scheduler: { type: 'asha', maxEpochs: 9, minEpochs: 3, factor: 3, maxTrials: 10_000 },
    objective: { metric: 'val_macro_f1', direction: 'max' },
    constraints: [],
    seed: 1,
  };
  await tdb.database.db.insert(studies).values({
    id: STUDY,
    name: config.name,
    config,
    source: config,
    state: 'running',
    startedAt: new Date(),
  });
  await addTrials(tdb.database.db, 0, 2100);
  server = await startDashboardServer(
    readEnv({
      ...process.env,
      DATABASE_URL: tdb.url,
      ARTIFACT_ROOT: join(work, 'artifacts'),
      REDIS_URL: REDIS,
      BRAINTUNE_QUEUE_PREFIX: PREFIX,
      LOG_LEVEL: 'silent',
    }),
    { port: 0, migrate: false },
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await clearRedisPrefix(REDIS, PREFIX);
  await tdb?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)('search analysis on the study page', () => {
  it('serves bounded analysis data through the API', async () => {
    const res = await fetch(`${server.url}/api/studies/${STUDY}/analysis`);
    expect(res.status).toBe(200);
    const analysis = StudyAnalysisSchema.parse(await res.json());
    expect(analysis.trials).toBe(2100);
    expect(analysis.sampled).toBe(true);
    expect(analysis.points.length).toBeLessThanOrEqual(2000);
    expect(analysis.importance[0]?.name).toBe('learningRate');
    const missing = await fetch(`${server.url}/api/studies/st-nope/analysis`);
    expect(missing.status).toBe(404);
  });

  it('shows importance, parallel coordinates, slices and history, and updates live', async () => {
    await page.goto(`${server.url}/studies/${STUDY}`);
    await page.waitForFunction(
      () => Number(document.getElementById('analysis')?.dataset.renders ?? 0) >= 1,
      null,
      {
        timeout: 60_000,
      },
    );
    const bars = page.locator('#analysis-importance .bar-row');
    expect(await bars.count()).toBe(5);
    expect(await bars.first().locator('.bar-label').textContent()).toBe('learningRate');
    expect(await page.locator('#analysis-parallel canvas').count()).toBe(1);
    expect(await page.locator('#analysis-slices canvas').count()).toBe(5);
    expect(await page.locator('#analysis-history .uplot').count()).toBe(1);
    expect(await page.locator('#analysis-note').textContent()).toContain('2100 trials');
    for (const view of ['importance', 'parallel', 'slices', 'history']) {
      await page.locator(`#analysis-${view}`).screenshot({ path: join(SHOTS, `${view}.png`) });
    }

    // Live: new results and a notification; the views follow without a reload.
    await addTrials(tdb.database.db, 2100, 2200);
    await notifyStudy(tdb.database.db, STUDY);
    await page.waitForFunction(
      () => document.getElementById('analysis-note')?.textContent?.includes('2200 trials'),
      null,
      {
        timeout: 60_000,
      },
    );
    // The leaderboard re-renders every trial first: give a loaded machine time.
    await page
      .locator('#analysis-history')
      .screenshot({ path: join(SHOTS, 'history-live.png'), timeout: 120_000 });
  }, 300_000);
});
