import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Dialog, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhantoms } from '@braintune/model-core/phantoms';
import { clearRedisPrefix, createTestDatabase } from './fixtures.js';

/**
 * The whole product through a real browser: `braintune up` (coordinator, API, dashboard,
 * two worker processes) on tiny phantom scans, driven by headless Chromium the way a data
 * scientist would: submit a study from the page, watch the leaderboard fill without
 * reloading, open a trial, promote it, upload a scan and read the prediction and heatmap.
 * Screenshots of every page go to test-output/dashboard/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(
    `[dashboard browser test] skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );

const REPO = resolve(import.meta.dirname, '../../..');
const SHOTS = join(REPO, 'test-output', 'dashboard');
const TOKEN = 'browser-test-token';
const REDIS_DB = 9;
const PREFIX = `bt-dash-browser-${process.pid}`;

let work: string;
let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let up: ChildProcess | null = null;
let upLog = '';
let base: string;
let browser: Browser;
let page: Page;

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function studyYaml(dataDir: string, externalDir: string): string {
  return `name: browser tiny hyperband
dataset:
  path: ${dataDir}
  imageSize: 32
  valFraction: 0.25
  seed: 1
searchSpace:
  learningRate: { type: float, min: 0.001, max: 0.01, sampling: log }
  baseFilters: { type: choice, values: [4, 8] }
  convBlocks: { type: fixed, value: 2 }
  denseUnits: { type: fixed, value: 16 }
  dense2Units: { type: fixed, value: 8 }
scheduler: { type: hyperband, maxEpochs: 3, factor: 3, iterations: 1 }
objective: { metric: val_macro_f1, direction: max }
constraints:
  - { metric: "val_recall:glioma_tumor", min: 0.2 }
evaluation:
  testSets:
    - { name: external, path: ${externalDir} }
seed: 3
`;
}

/** Answers the page's prompts: the API token, then the promote dialog's defaults. */
function answerDialogs(dialog: Dialog): Promise<void> {
  if (dialog.type() !== 'prompt') return dialog.accept();
  if (/API token/.test(dialog.message())) return dialog.accept(TOKEN);
  return dialog.accept(dialog.defaultValue());
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

describe.skipIf(!hasChromium)('dashboard in headless Chromium (whole system)', () => {
  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    work = await mkdtemp(join(tmpdir(), 'braintune-browser-'));
    // With lesion masks: the workers then score each trial's explanations (the pointing game).
    await makePhantoms({ outDir: join(work, 'data'), perClass: 16, size: 48, seed: 5, masks: true });
    // An external test set from another seed of the generator.
    await makePhantoms({ outDir: join(work, 'external'), perClass: 4, size: 48, seed: 77 });
    tdb = await createTestDatabase(`bt_dash_browser_${process.pid}`);
    await tdb.database.close();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    up = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        join(REPO, 'packages/cli/src/main.ts'),
        'up',
        '--workers',
        '2',
        '--port',
        String(port),
      ],
      {
        cwd: REPO,
        env: {
          ...process.env,
          LOG_LEVEL: 'warn',
          DATABASE_URL: tdb.url,
          REDIS_URL: `redis://127.0.0.1:6379/${REDIS_DB}`,
          BRAINTUNE_QUEUE_PREFIX: PREFIX,
          ARTIFACT_ROOT: join(work, 'artifacts'),
          BRAINTUNE_DATA_ROOTS: work,
          BRAINTUNE_API_TOKEN: TOKEN,
          PORT: String(port),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    up.stdout!.on('data', (d: Buffer) => (upLog += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (upLog += d.toString()));
    const deadline = Date.now() + 240_000; // generous: the CI machine may be shared
    while (!upLog.includes('is up at')) {
      if (Date.now() > deadline || up.exitCode !== null)
        throw new Error(`braintune up did not start:\n${upLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('dialog', (d) => void answerDialogs(d));
    page.on('pageerror', (e) => console.error('[page error]', e.message));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (up && up.exitCode === null) {
      const exited = new Promise((r) => up!.once('exit', r));
      up.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (up.exitCode === null) up.kill('SIGKILL');
    }
    await clearRedisPrefix(`redis://127.0.0.1:6379/${REDIS_DB}`, PREFIX);
    await tdb?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('submits a study, watches it live, opens a trial, promotes it and predicts a scan', async () => {
    // 1. Studies page: submit a tiny study (the page asks for the token on the 401).
    await page.goto(base + '/');
    await page.fill('#config', 'name: broken\nscheduler: { type: hyperband, maxEpochs: 0 }\n');
    await page.click('#submit-study');
    await page.waitForSelector('#config-errors li');
    expect(await page.textContent('#config-errors')).toMatch(/maxEpochs/);
    await shot('studies-config-errors');
    // A refusal without field issues (a data path outside the roots) shows its message, not its code.
    await page.fill('#config', studyYaml(join(work, '..', 'outside-the-roots'), join(work, 'external')));
    await page.click('#submit-study');
    await page.waitForFunction(() =>
      /outside-the-roots/.test(document.querySelector('#config-errors')?.textContent ?? ''),
    );
    expect(await page.textContent('#config-errors')).not.toMatch(/invalid_input/);
    await page.fill('#config', studyYaml(join(work, 'data'), join(work, 'external')));
    await page.click('#submit-study');
    await page.waitForSelector('#new-study-link');
    await shot('studies');

    // 2. Study page: the leaderboard fills through server-sent events, no reload.
    await page.click('#new-study-link');
    await page.waitForSelector('#leaderboard');
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    await page.waitForFunction(() => document.querySelector('#live')?.classList.contains('on'));
    await page.waitForFunction(
      () =>
        document.querySelectorAll('#leaderboard-body tr[data-trial]').length >= 3 &&
        /completed/.test(document.querySelector('.kpis')?.textContent ?? ''),
      undefined,
      { timeout: 300_000 },
    );
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(
      true,
    );
    expect(Number(await page.evaluate(() => document.body.dataset.updates))).toBeGreaterThan(1);
    expect(await page.textContent('#kpi-rungs')).toMatch(/6 \/ 6/);
    // The data-set panel: the bundle's preprocessing and its near-duplicate split.
    expect(await page.textContent('#datasets')).toMatch(/dHash\+pHash ≤ 8/);
    expect(await page.textContent('#datasets')).toMatch(/no crop · raw intensities/);
    // Sorting by a column (glioma recall) reorders without a reload.
    await page.click('th[data-key="recall:glioma_tumor"]');
    await page.waitForSelector('th[data-key="recall:glioma_tumor"] .arrow');
    await page.click('th[data-key="rank"]');
    // The external test set has its own columns beside the objective, filled for every scored trial.
    expect(await page.textContent('th[data-key="test:external:acc"]')).toMatch(/Test external acc/);
    expect(await page.textContent('th[data-key="test:external:f1"]')).toMatch(/Test external macro-F1/);
    const testCells = await page.$$eval('td[data-key="test:external:acc"]', (cells) =>
      cells.map((c) => c.textContent ?? ''),
    );
    expect(testCells.length).toBeGreaterThanOrEqual(3);
    expect(testCells.every((t) => /^\d\.\d+$/.test(t))).toBe(true);
    expect(await page.textContent('th[data-key="pointing"]')).toMatch(/Points at lesion/);
    const pointingCells = await page.$$eval('td[data-key="pointing"]', (cells) =>
      cells.map((c) => c.textContent ?? ''),
    );
    expect(pointingCells.filter((t) => /^\d\.\d+$/.test(t)).length).toBeGreaterThanOrEqual(3);
    await shot('study');

    // 3. Trial page of the best trial.
    await page.click('text=Open best trial');
    await page.waitForSelector('#confusion-matrix');
    expect(await page.textContent('#classification-report')).toMatch(/macro avg/);
    expect(await page.textContent('#test-sets [data-test-set="external"]')).toMatch(/^external16/);
    expect(await page.textContent('#pointing')).toMatch(
      /peak inside the lesion\d\.\d+ of \d+ validation scans/,
    );
    await shot('trial');

    // 4. Promote it (model brain-mri, alias production).
    await page.click('#promote-trial');
    await page.waitForSelector('#promote-result');
    expect(await page.textContent('#promote-result')).toMatch(/brain-mri v1 \(production\)/);
    await page.goto(base + '/registry');
    await page.waitForSelector('[data-model="brain-mri"] tr[data-version="1"]');
    expect(await page.textContent('[data-model="brain-mri"]')).toMatch(/production → v1/);
    expect(await page.textContent('[data-model="brain-mri"] tr[data-version="1"] .test-scores')).toMatch(
      /test external: acc \d/,
    );
    // Promote another trial from the registry page (production → v2), then roll production back.
    // Its trial list loads on its own: wait for it rather than read a half-filled select.
    await page.waitForFunction(() => document.querySelectorAll('#promote-trial option').length >= 2);
    const options = await page.$$eval('#promote-trial option', (o) =>
      o.map((x) => (x as HTMLOptionElement).value),
    );
    const current = await page.inputValue('#promote-trial');
    await page.selectOption(
      '#promote-trial',
      options.find((v) => v !== current)!,
    );
    await page.click('#promote-submit');
    await page.waitForSelector('[data-model="brain-mri"] tr[data-version="2"]');
    expect(await page.textContent('[data-model="brain-mri"] .row')).toMatch(/production → v2/);
    await page.click('.rollback[data-alias="production"]');
    await page.waitForFunction(() =>
      /production → v1/.test(document.querySelector('[data-model="brain-mri"] .row')?.textContent ?? ''),
    );
    expect(await page.textContent('.alias-history')).toMatch(/v2 → v1\s*rollback/);
    await shot('registry');
    expect((await readdir(join(work, 'artifacts', 'registry', 'brain-mri'))).sort()).toEqual(['v1', 'v2']);

    // 5. Predict a scan with the production version: probabilities and the Grad-CAM heatmap.
    await page.goto(base + '/predict');
    await page.waitForFunction(
      () =>
        (document.querySelector('#predict-model') as HTMLSelectElement | null)?.value ===
        'brain-mri@production',
    );
    const scanDir = join(work, 'data', 'glioma_tumor');
    const scan = join(scanDir, (await readdir(scanDir))[0]!);
    await page.setInputFiles('#predict-file', scan);
    await page.click('#predict-submit');
    await page.waitForSelector('#probabilities .bar');
    await page.waitForFunction(() => {
      const img = document.querySelector('#gradcam-image') as HTMLImageElement | null;
      return Boolean(img && img.complete && img.naturalWidth > 0);
    });
    const shares = await page.$$eval('#probabilities .bar .num', (cells) =>
      cells.map((c) => parseFloat(c.textContent ?? '0')),
    );
    expect(shares).toHaveLength(4);
    expect(shares.reduce((a, b) => a + b, 0)).toBeGreaterThan(99);
    expect(await page.textContent('#preprocessing')).toMatch(/32 × 32/);
    // Triage: the confidence against the threshold the worker fitted on validation.
    expect(await page.textContent('#triage')).toMatch(/confidence \d+\.\d%, (threshold|no referral)/);
    await shot('predict');
    await page.check('#predict-tta');
    await page.click('#predict-submit');
    await page.waitForFunction(() => /flip TTA/.test(document.querySelector('#triage')?.textContent ?? ''));
  }, 600_000);
});
