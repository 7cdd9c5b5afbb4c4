import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rankedTrialIds } from '@braintune/coordinator';
import { predict, type Prediction } from '@braintune/model-core';
import { readEnv } from '@braintune/protocol';
import { startDashboardServer, type DashboardServer, type RegistryPrediction } from '../src/index.js';
import { calibrationFor, writeTinyCheckpoint } from './checkpoint.js';
import { lastJson, runCli } from '../../cli/test/run-cli.js';
import { clearRedisPrefix, createTestDatabase, seedStudy } from './fixtures.js';

/** Ensembles (`promote --top K`), calibrated triage (`refer`) and flip TTA through the API and the CLI. */

const TOKEN = 'ens-token';
const auth = { Authorization: `Bearer ${TOKEN}` };

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let artifacts: string;
let server: DashboardServer;
let ranked: string[];
let scan: string;
let scanBytes: Buffer;
const checkpointOf = (trialId: string) => join(artifacts, 'checkpoints', 'st-ens', trialId.split(':')[1]!);

const braintune = (args: string[]) =>
  runCli(args, {
    ...process.env,
    LOG_LEVEL: 'silent',
    BRAINTUNE_URL: server.url,
    BRAINTUNE_API_TOKEN: TOKEN,
  });

async function apiPredict(model: string, extra: Record<string, string> = {}): Promise<RegistryPrediction> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(scanBytes)]), 'scan.png');
  form.append('model', model);
  for (const [k, v] of Object.entries(extra)) form.append(k, v);
  const res = await fetch(`${server.url}/api/predict`, { method: 'POST', headers: auth, body: form });
  expect(res.status).toBe(200);
  return (await res.json()) as RegistryPrediction;
}

async function promote(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/api/models/promote`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ studyId: 'st-ens', model: 'brain-mri', ...body }),
  });
}

function expectMean(actual: number[], members: Prediction[]): void {
  actual.forEach((p, i) => {
    const mean = members.reduce((s, m) => s + (m.probabilities[i] ?? 0), 0) / members.length;
    expect(Math.abs(p - mean)).toBeLessThan(1e-6);
  });
}

beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  tdb = await createTestDatabase(`bt_dash_ens_${process.pid}`);
  artifacts = await mkdtemp(join(tmpdir(), 'braintune-dash-ens-'));
  await seedStudy(tdb.database.db, { studyId: 'st-ens', trials: 6, epochs: 3 });
  ranked = await rankedTrialIds(tdb.database.db, 'st-ens', 3);
  // The best is calibrated with a threshold no scan reaches; the second has no calibration
  // (an old checkpoint); the third is a different image size.
  await writeTinyCheckpoint(checkpointOf(ranked[0]!), { seed: 3, calibration: calibrationFor(1.5, 0.99) });
  await writeTinyCheckpoint(checkpointOf(ranked[1]!), { seed: 4 });
  await writeTinyCheckpoint(checkpointOf(ranked[2]!), {
    seed: 5,
    imageSize: 24,
    calibration: calibrationFor(0.7, 0.2),
  });
  scan = join(artifacts, 'scan.png');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#111' } })
    .composite([
      { input: Buffer.from('<svg width="64" height="64"><circle cx="20" cy="24" r="9" fill="#eee"/></svg>') },
    ])
    .png()
    .toFile(scan);
  scanBytes = await readFile(scan);
  server = await startDashboardServer(
    readEnv({
      ...process.env,
      DATABASE_URL: tdb.url,
      ARTIFACT_ROOT: artifacts,
      BRAINTUNE_API_TOKEN: TOKEN,
      REDIS_URL: 'redis://127.0.0.1:6379/11',
      BRAINTUNE_QUEUE_PREFIX: `bt-dash-ens-${process.pid}`,
    }),
    { port: 0, migrate: false },
  );
});

afterAll(async () => {
  await server?.close();
  await clearRedisPrefix('redis://127.0.0.1:6379/11', `bt-dash-ens-${process.pid}`);
  await tdb?.drop();
  await rm(artifacts, { recursive: true, force: true });
});

describe('calibrated triage', () => {
  it('the API refers a scan below the threshold and keeps the calibrated probabilities', async () => {
    expect((await promote({ trialId: ranked[0] })).status).toBe(201); // v1
    const r = await apiPredict('brain-mri@v1');
    const direct = await predict(checkpointOf(ranked[0]!), scan);
    expect(r).toMatchObject({
      refer: true,
      decision: 'refer',
      threshold: 0.99,
      temperature: 1.5,
      tta: false,
    });
    expect(r.predicted).toBe(direct.predicted);
    expect(r.confidence).toBeCloseTo(direct.confidence, 6);
    r.probabilities.forEach((p, i) => expect(p).toBeCloseTo(direct.probabilities[i]!, 6));
    const models = (await (await fetch(`${server.url}/api/models`)).json()) as {
      models: { versions: { metrics: { calibration: { temperature: number } | null } }[] }[];
    };
    expect(models.models[0]!.versions[0]!.metrics.calibration?.temperature).toBe(1.5);
  });

  it('flip TTA through the API equals model-core with tta', async () => {
    const r = await apiPredict('brain-mri@v1', { tta: 'true' });
    const direct = await predict(checkpointOf(ranked[0]!), scan, { tta: true });
    expect(r.tta).toBe(true);
    r.probabilities.forEach((p, i) => expect(p).toBeCloseTo(direct.probabilities[i]!, 6));
    const bad = new FormData();
    bad.append('image', new Blob([new Uint8Array(scanBytes)]), 'scan.png');
    bad.append('model', 'brain-mri@v1');
    bad.append('tta', 'maybe');
    const res = await fetch(`${server.url}/api/predict`, { method: 'POST', headers: auth, body: bad });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/tta/);
  });

  it('the CLI prints "refer" for a low-confidence scan', async () => {
    const r = await braintune(['predict', scan, '--model', 'brain-mri@v1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/refer \(\w+\?\)/);
    const out = lastJson<{ threshold: number; predictions: { decision: string; refer: boolean }[] }>(
      r.stdout,
    );
    expect(out.threshold).toBe(0.99);
    expect(out.predictions[0]).toMatchObject({ decision: 'refer', refer: true });
  });
});

describe('ensembles', () => {
  it('promote --top 2 stores one version holding both members and lists it as an ensemble', async () => {
    const res = await promote({ top: 2, alias: 'production' }); // v2
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ version: 2, trialId: ranked[0], members: ranked.slice(0, 2) });
    const dir = join(artifacts, 'registry', 'brain-mri', 'v2');
    expect((await readdir(dir)).sort()).toEqual(['ensemble.json', 'member-1', 'member-2']);
    const list = (await (await fetch(`${server.url}/api/models/brain-mri`)).json()) as {
      versions: {
        version: number;
        kind: string;
        members: { trialId: string; temperature: number | null }[];
      }[];
    };
    const v2 = list.versions.find((v) => v.version === 2)!;
    expect(v2.kind).toBe('ensemble');
    expect(v2.members.map((m) => [m.trialId, m.temperature])).toEqual([
      [ranked[0], 1.5],
      [ranked[1], null],
    ]);
  });

  it("the API serves the ensemble: the mean of its members' calibrated probabilities", async () => {
    const members = [
      await predict(checkpointOf(ranked[0]!), scan),
      await predict(checkpointOf(ranked[1]!), scan),
    ];
    const r = await apiPredict('brain-mri@production');
    expect(r.version).toBe(2);
    expect(r.ensemble?.members.map((m) => m.trialId)).toEqual(ranked.slice(0, 2));
    expectMean(r.probabilities, members);
    // Threshold: the mean of the members' (0.99 and 0 for the uncalibrated one).
    expect(r.threshold).toBeCloseTo(0.495, 9);
    expect(r.refer).toBe(r.confidence < 0.495);
  });

  it('the CLI promotes --top 3 (members of different image sizes) and predicts the mean', async () => {
    const p = await braintune(['promote', 'st-ens', '--top', '3', '--json']);
    expect(p.code, p.stderr).toBe(0);
    const promoted = lastJson<{ version: number; members: string[] }>(p.stdout);
    expect(promoted).toMatchObject({ version: 3, members: ranked });
    const r = await braintune(['predict', scan, '--model', 'brain-mri@v3', '--tta', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ensemble of 3/);
    const out = lastJson<{
      kind: string;
      tta: boolean;
      predictions: { probabilities: Record<string, number> }[];
    }>(r.stdout);
    expect(out).toMatchObject({ kind: 'ensemble', tta: true });
    const members = await Promise.all(ranked.map((id) => predict(checkpointOf(id), scan, { tta: true })));
    expectMean(
      members[0]!.classes.map((c) => out.predictions[0]!.probabilities[c]!),
      members,
    );
  });

  it('refuses --top K beyond the promotable trials, creating nothing', async () => {
    const res = await promote({ top: 9 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/fewer than --top 9/);
    expect((await readdir(join(artifacts, 'registry', 'brain-mri'))).sort()).toEqual(['v1', 'v2', 'v3']);
  });

  it('downloads an ensemble as one tfjs model per member plus ensemble.json', async () => {
    const res = await fetch(`${server.url}/api/models/brain-mri/versions/3/download`);
    expect(res.status).toBe(200);
    const dir = await mkdtemp(join(tmpdir(), 'braintune-ens-zip-'));
    try {
      await writeFile(join(dir, 'v3.zip'), Buffer.from(await res.arrayBuffer()));
      execFileSync('unzip', ['-q', join(dir, 'v3.zip'), '-d', dir]);
      const root = join(dir, 'brain-mri-v3');
      expect((await readdir(root)).sort()).toEqual(['ensemble.json', 'member-1', 'member-2', 'member-3']);
      expect((await readdir(join(root, 'member-3'))).sort()).toEqual([
        'braintune.json',
        'model.json',
        'weights.bin',
      ]);
      const meta = JSON.parse(await readFile(join(root, 'member-3', 'braintune.json'), 'utf8')) as {
        imageSize: number;
        calibration: { temperature: number; threshold: number };
      };
      expect(meta).toMatchObject({ imageSize: 24, calibration: { temperature: 0.7, threshold: 0.2 } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
