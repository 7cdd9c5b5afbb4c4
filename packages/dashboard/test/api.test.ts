import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { crc32, deflateSync } from 'node:zlib';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { createRedis, studies, trials, workers, type StudySnapshot } from '@braintune/coordinator';
import { publishWorkerEvent, type TestSetScores } from '@braintune/protocol';
import { loadCheckpoint, loadLayersModelFromFile, predict } from '@braintune/model-core';
import * as tf from '@tensorflow/tfjs-core';
import { eq } from 'drizzle-orm';
import type { RegistryPrediction, SnapshotDelta } from '../src/index.js';
import { writeTinyCheckpoint } from './checkpoint.js';
import { createTestDatabase, notifyStudy, seedStudy } from './fixtures.js';
import { startTestApp, type TestApp } from './test-app.js';

process.env.LOG_LEVEL ??= 'silent';
const TOKEN = 's3cret-token';
const auth = { Authorization: `Bearer ${TOKEN}` };
const REDIS_URL = 'redis://127.0.0.1:6379/7';
const PREFIX = `bt-dash-api-${process.pid}`;

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let artifactsDir: string;
let store: FilesystemArtifactStore;
let testApp: TestApp;
let base: string;
let bestTrialId: string;
let otherTrialId: string;
let scanPng: Buffer;

beforeAll(async () => {
  tdb = await createTestDatabase(`bt_dash_api_${process.pid}`);
  artifactsDir = await mkdtemp(join(tmpdir(), 'braintune-dash-api-'));
  store = new FilesystemArtifactStore(artifactsDir);
  const seeded = await seedStudy(tdb.database.db, {
    studyId: 'st-api',
    trials: 6,
    epochs: 3,
    testSets: ['external'],
  });
  bestTrialId = seeded.bestTrialId;
  otherTrialId = seeded.trialIds.find((id) => id !== bestTrialId && id.endsWith(':0'))!;
  await writeTinyCheckpoint(store.localDir(`checkpoints/st-api/${bestTrialId.split(':')[1]}`), { seed: 3 });
  await writeTinyCheckpoint(store.localDir(`checkpoints/st-api/${otherTrialId.split(':')[1]}`), { seed: 4 });
  // A bright disc on a dark background, larger than the model input, not square.
  scanPng = await sharp({ create: { width: 90, height: 70, channels: 3, background: '#000' } })
    .composite([
      {
        input: Buffer.from('<svg width="90" height="70"><circle cx="30" cy="30" r="14" fill="#ddd"/></svg>'),
        top: 0,
        left: 0,
      },
    ])
    .png()
    .toBuffer();

  testApp = await startTestApp({
    db: tdb.database.db,
    databaseUrl: tdb.url,
    artifacts: store,
    redisUrl: REDIS_URL,
    prefix: PREFIX,
    apiToken: TOKEN,
  });
  base = testApp.base;
});

afterAll(async () => {
  await testApp?.close();
  await tdb?.drop();
  await rm(artifactsDir, { recursive: true, force: true });
});

async function registryFiles(): Promise<string[]> {
  try {
    return await readdir(join(artifactsDir, 'registry', 'brain-mri'));
  } catch {
    return [];
  }
}

function upload(bytes: Buffer, name: string, model?: string): FormData {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)]), name);
  if (model) form.append('model', model);
  return form;
}

describe('security: the API token guards every mutating endpoint', () => {
  const mutations: [string, string, () => RequestInit][] = [
    ['POST', '/api/studies', () => ({ body: 'name: x', headers: { 'Content-Type': 'application/yaml' } })],
    ['POST', '/api/studies/st-api/cancel', () => ({})],
    [
      'POST',
      '/api/models/promote',
      () => ({
        body: JSON.stringify({ studyId: 'st-api' }),
        headers: { 'Content-Type': 'application/json' },
      }),
    ],
    [
      'PUT',
      '/api/models/brain-mri/aliases/production',
      () => ({ body: JSON.stringify({ version: 1 }), headers: { 'Content-Type': 'application/json' } }),
    ],
    ['POST', '/api/models/brain-mri/aliases/production/rollback', () => ({})],
    ['POST', '/api/predict', () => ({ body: upload(scanPng, 'scan.png') })],
  ];

  it.each(mutations)(
    '%s %s answers 401 without the token and with a wrong one, and changes nothing',
    async (method, path, init) => {
      const before = await tdb.database.db.select().from(studies);
      const none = await fetch(base + path, { method, ...init() });
      expect(none.status).toBe(401);
      expect(((await none.json()) as { message: string }).message).toMatch(/token/);
      const wrong = await fetch(base + path, {
        method,
        ...init(),
        headers: { ...(init().headers as Record<string, string>), Authorization: 'Bearer nope' },
      });
      expect(wrong.status).toBe(401);
      expect(await tdb.database.db.select().from(studies)).toEqual(before);
      expect(await registryFiles()).toEqual([]);
    },
  );

  it('reads stay open', async () => {
    expect((await fetch(`${base}/api/models`)).status).toBe(200);
    expect((await fetch(`${base}/api/ui/studies/st-api`)).status).toBe(200);
  });
});

describe('uploads', () => {
  it('rejects a non-image with 400 and a clear message, whatever its name', async () => {
    const res = await fetch(`${base}/api/predict`, {
      method: 'POST',
      headers: auth,
      body: upload(Buffer.from('this is not a scan, just text'), 'scan.png', 'brain-mri'),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/not an image/);
  });

  it('rejects an upload over 10 MB with 413 and a clear message', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 0xff);
    big.set([0xff, 0xd8, 0xff], 0); // a JPEG signature does not help
    const res = await fetch(`${base}/api/predict`, {
      method: 'POST',
      headers: auth,
      body: upload(big, 'huge.jpg', 'brain-mri'),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { message: string }).message).toMatch(/larger than 10 MB/);
  });

  it('refuses a decompression bomb from its header, before decoding a pixel', async () => {
    // A valid PNG header claiming 20000×20000 pixels (400 MP) in a 99-byte file.
    const chunk = (type: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const out = Buffer.alloc(body.length + 8);
      out.writeUInt32BE(data.length, 0);
      body.copy(out, 4);
      out.writeUInt32BE(crc32(body), body.length + 4);
      return out;
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(20_000, 0);
    ihdr.writeUInt32BE(20_000, 4);
    ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(Buffer.alloc(20_001))), // one row; the rest is missing
      chunk('IEND', Buffer.alloc(0)),
    ]);
    const res = await fetch(`${base}/api/predict`, {
      method: 'POST',
      headers: auth,
      body: upload(png, 'bomb.png', 'brain-mri'),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { message: string }).message).toMatch(/20000×20000 pixels/);
  });

  it('rejects a GIF (an image, but not a JPEG or PNG scan)', async () => {
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#333' } })
      .gif()
      .toBuffer();
    const res = await fetch(`${base}/api/predict`, {
      method: 'POST',
      headers: auth,
      body: upload(gif, 'scan.jpg', 'brain-mri'),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/GIF/);
  });
});

describe('registry', () => {
  it('promotes the best trial by default, copying its checkpoint to registry/<model>/v1', async () => {
    const res = await fetch(`${base}/api/models/promote`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', 'X-Braintune-User': 'alice' },
      body: JSON.stringify({ studyId: 'st-api', model: 'brain-mri', alias: 'production' }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { version: number; trialId: string; artifactKey: string };
    expect(body).toMatchObject({ version: 1, trialId: bestTrialId, artifactKey: 'registry/brain-mri/v1' });
    expect(await readdir(store.localDir('registry/brain-mri/v1'))).toEqual(
      expect.arrayContaining(['latest.json', 'epoch-0001']),
    );
  });

  it("copies the trial's external test-set scores into the version, apart from its metrics", async () => {
    const { models } = (await (await fetch(`${base}/api/models`)).json()) as {
      models: { name: string; versions: { version: number; test: TestSetScores; metrics: object }[] }[];
    };
    const v1 = models.find((m) => m.name === 'brain-mri')?.versions.find((v) => v.version === 1);
    const [trial] = await tdb.database.db.select().from(trials).where(eq(trials.id, bestTrialId));
    expect(v1?.test).toEqual(trial?.testScores);
    expect(Object.keys(v1?.test ?? {})).toEqual(['external']);
    expect(JSON.stringify(v1?.metrics)).not.toMatch(/external/);
  });

  it('refuses a trial without a completed rung and leaves nothing behind', async () => {
    const res = await fetch(`${base}/api/models/promote`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ studyId: 'st-api', trialId: 'st-api:999' }),
    });
    expect(res.status).toBe(404);
    expect(await registryFiles()).toEqual(['v1']);
  });

  it('moves an alias forward and rolls it back, recording who and when', async () => {
    const promoted = await fetch(`${base}/api/models/promote`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', 'X-Braintune-User': 'bob' },
      body: JSON.stringify({
        studyId: 'st-api',
        trialId: otherTrialId,
        model: 'brain-mri',
        alias: 'production',
      }),
    });
    expect(promoted.status).toBe(201);
    const moved = await fetch(`${base}/api/models/brain-mri/aliases/staging`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: 1 }),
    });
    expect(moved.status).toBe(200);
    const rollback = await fetch(`${base}/api/models/brain-mri/aliases/production/rollback`, {
      method: 'POST',
      headers: { ...auth, 'X-Braintune-User': 'carol' },
    });
    expect(rollback.status).toBe(200);
    expect(await rollback.json()).toMatchObject({ alias: 'production', version: 1, previous: 2 });

    const model = (await (await fetch(`${base}/api/models/brain-mri`)).json()) as {
      aliases: Record<string, number>;
      history: {
        alias: string;
        fromVersion: number | null;
        toVersion: number;
        by: string;
        at: string;
        rollback: boolean;
      }[];
      versions: { version: number; trialId: string }[];
    };
    expect(model.aliases).toEqual({ production: 1, staging: 1 });
    expect(model.versions.map((v) => [v.version, v.trialId])).toEqual([
      [2, otherTrialId],
      [1, bestTrialId],
    ]);
    const production = model.history
      .filter((h) => h.alias === 'production')
      .map((h) => [h.fromVersion, h.toVersion, h.by, h.rollback]);
    expect(production).toEqual([
      [2, 1, 'carol', true],
      [1, 2, 'bob', false],
      [null, 1, 'alice', false],
    ]);
    expect(model.history.every((h) => !Number.isNaN(Date.parse(h.at)))).toBe(true);
  });

  it('rejects an alias move to a version that does not exist, changing nothing', async () => {
    const res = await fetch(`${base}/api/models/brain-mri/aliases/production`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: 9 }),
    });
    expect(res.status).toBe(404);
    const model = (await (await fetch(`${base}/api/models/brain-mri`)).json()) as {
      aliases: Record<string, number>;
    };
    expect(model.aliases.production).toBe(1);
  });

  it('numbers concurrent promotions without gaps or duplicates', async () => {
    const results = await Promise.all(
      [0, 1, 2].map(() =>
        fetch(`${base}/api/models/promote`, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/json' },
          body: JSON.stringify({ studyId: 'st-api', model: 'race' }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { version: number } })),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(results.map((r) => r.body.version).sort()).toEqual([1, 2, 3]);
    expect((await readdir(join(artifactsDir, 'registry', 'race'))).sort()).toEqual(['v1', 'v2', 'v3']);
  });

  it('pages the models by name, each page holding only its own versions and aliases', async () => {
    const first = await fetch(`${base}/api/models?limit=1`);
    expect(first.headers.get('x-total-count')).toBe('2');
    expect(first.headers.get('link')).toBe('</api/models?limit=1&offset=1>; rel="next"');
    const second = await fetch(`${base}/api/models?limit=1&offset=1`);
    expect(second.headers.get('link')).toBeNull();
    type Listed = { models: { name: string; versions: { version: number }[]; aliases: object }[] };
    const [a, b] = [((await first.json()) as Listed).models, ((await second.json()) as Listed).models];
    expect([...a, ...b].map((m) => m.name)).toEqual(['brain-mri', 'race']);
    expect(b[0]!.versions.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(b[0]!.aliases).toEqual({});
    expect(Object.keys(a[0]!.aliases)).toEqual(['production', 'staging']);
    expect((await fetch(`${base}/api/models?limit=0`)).status).toBe(400);
  });

  it('downloads a version as a tfjs model (model.json + weights.bin) that loads and predicts like the checkpoint', async () => {
    const res = await fetch(`${base}/api/models/brain-mri/versions/2/download`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    const dir = await mkdtemp(join(tmpdir(), 'braintune-zip-'));
    try {
      await writeFile(join(dir, 'v2.zip'), Buffer.from(await res.arrayBuffer()));
      execFileSync('unzip', ['-q', join(dir, 'v2.zip'), '-d', dir]);
      expect((await readdir(join(dir, 'brain-mri-v2'))).sort()).toEqual([
        'braintune.json',
        'model.json',
        'weights.bin',
      ]);
      const exported = await loadLayersModelFromFile(join(dir, 'brain-mri-v2', 'model.json'));
      const original = await loadCheckpoint(
        store.localDir(`checkpoints/st-api/${otherTrialId.split(':')[1]}`),
      );
      const x = tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 11);
      const a = (exported.predict(x) as tf.Tensor).arraySync() as number[][];
      const b = (original.model.predict(x) as tf.Tensor).arraySync() as number[][];
      expect(a.flat().map((v) => +v.toFixed(6))).toEqual(b.flat().map((v) => +v.toFixed(6)));
      x.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('predictions from the registry', () => {
  it("equal model-core's prediction from the same checkpoint, with a Grad-CAM heatmap", async () => {
    const res = await fetch(`${base}/api/predict`, {
      method: 'POST',
      headers: auth,
      body: upload(scanPng, 'scan.png', 'brain-mri@production'),
    });
    expect(res.status).toBe(200);
    const r = (await res.json()) as RegistryPrediction;
    expect(r).toMatchObject({ model: 'brain-mri', version: 1, alias: 'production' });
    const direct = await predict(store.localDir(`checkpoints/st-api/${bestTrialId.split(':')[1]}`), scanPng);
    expect(r.classes).toEqual(direct.classes);
    expect(r.predicted).toBe(direct.predicted);
    r.probabilities.forEach((p, i) => expect(p).toBeCloseTo(direct.probabilities[i]!, 6));
    expect(r.preprocessing).toMatchObject({ imageSize: 32, resize: 'contain', grayscale: true });
    const overlay = Buffer.from(r.images.gradcam.replace(/^data:image\/png;base64,/, ''), 'base64');
    const meta = await sharp(overlay).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 384, 384]);
    // The default explanation (model-core's DEFAULT_CAM): Grad-CAM++ on the finest activated map.
    expect(r.gradcam).toMatchObject({ method: 'gradcam++', width: 16, height: 16 });
    expect(r.gradcam.layer).toMatch(/conv|relu/);
  });

  it('explains with the method and layer asked for, and names a bad choice in a 400', async () => {
    const form = upload(scanPng, 'scan.png', 'brain-mri@production');
    form.append('explain', 'layercam');
    form.append('layer', 'block1_conv1');
    const res = await fetch(`${base}/api/predict`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(200);
    const r = (await res.json()) as RegistryPrediction;
    expect(r.gradcam.method).toBe('layercam');
    expect([r.gradcam.layer, r.gradcam.width]).toEqual(['block1_conv1', 32]);
    for (const [field, value, message] of [
      ['explain', 'saliency', /explain is one of gradcam, gradcam\+\+, layercam|method/],
      ['layer', 'no_such_layer', /no_such_layer/],
    ] as const) {
      const bad = upload(scanPng, 'scan.png', 'brain-mri@production');
      bad.append(field, value);
      const answer = await fetch(`${base}/api/predict`, { method: 'POST', headers: auth, body: bad });
      expect(answer.status, `${field}=${value}`).toBe(400);
      expect(JSON.stringify(await answer.json())).toMatch(message);
    }
  });

  it('serves a version named by number, and a different checkpoint gives different numbers', async () => {
    const res = await fetch(`${base}/api/predict`, {
      method: 'POST',
      headers: auth,
      body: upload(scanPng, 'scan.png', 'brain-mri@v2'),
    });
    const r = (await res.json()) as RegistryPrediction;
    const direct = await predict(store.localDir(`checkpoints/st-api/${otherTrialId.split(':')[1]}`), scanPng);
    r.probabilities.forEach((p, i) => expect(p).toBeCloseTo(direct.probabilities[i]!, 6));
  });

  it('answers 404 for an unknown alias', async () => {
    const res = await fetch(`${base}/api/predict`, {
      method: 'POST',
      headers: auth,
      body: upload(scanPng, 'scan.png', 'brain-mri@nightly'),
    });
    expect(res.status).toBe(404);
  });
});

describe('live leaderboard and operations endpoints', () => {
  it('ranks trials that meet the constraints above those that miss them', async () => {
    const snap = (await (await fetch(`${base}/api/ui/studies/st-api`)).json()) as StudySnapshot;
    const scored = snap.rows.filter((r) => r.objective !== null);
    const firstMiss = scored.findIndex((r) => r.violations.length > 0);
    if (firstMiss >= 0) expect(scored.slice(firstMiss).every((r) => r.violations.length > 0)).toBe(true);
    expect(snap.bestTrialId).toBe(bestTrialId);
    expect(snap.rows.map((r) => r.rank)).toEqual(snap.rows.map((_, i) => i + 1));
  });

  it('shows external test sets beside the objective without changing the ranking', async () => {
    const snap = (await (await fetch(`${base}/api/ui/studies/st-api`)).json()) as StudySnapshot;
    expect(snap.testSets).toEqual(['external']);
    const scored = snap.rows.filter((r) => r.objective !== null);
    for (const r of scored) expect(r.test.external?.images).toBeGreaterThan(0);
    // The seeded test scores run against the objective: ranking on them would change the order.
    const byTest = [...scored].sort((a, b) => b.test.external!.accuracy - a.test.external!.accuracy);
    expect(byTest[0]?.trialId).not.toBe(bestTrialId);
    expect(snap.bestTrialId).toBe(bestTrialId);
    const met = scored.filter((r) => r.violations.length === 0).map((r) => r.objective!);
    expect(met).toEqual([...met].sort((a, b) => b - a));

    const board = (await (await fetch(`${base}/api/studies/st-api/trials?sort=objective`)).json()) as {
      trialId: string;
      score: number | null;
      test: TestSetScores;
    }[];
    const [best] = await tdb.database.db.select().from(trials).where(eq(trials.id, bestTrialId));
    expect(board.find((r) => r.trialId === bestTrialId)?.test).toEqual(best?.testScores);
    const summary = (await (await fetch(`${base}/api/studies/st-api`)).json()) as {
      testSets: string[];
      best: { trialId: string; test: Record<string, { accuracy: number; macroF1: number }> };
    };
    expect(summary.testSets).toEqual(['external']);
    expect(summary.best.trialId).toBe(bestTrialId);
    expect(summary.best.test).toEqual({
      external: {
        accuracy: best?.testScores?.external?.accuracy,
        macroF1: best?.testScores?.external?.macroF1,
      },
    });

    const detail = (await (await fetch(`${base}/api/ui/trials/${bestTrialId}`)).json()) as {
      test: TestSetScores;
    };
    expect(detail.test).toEqual(best?.testScores);
  });

  it('pages the leaderboard in rank order, with the total and a link to the next page', async () => {
    const whole = (await (await fetch(`${base}/api/ui/studies/st-api`)).json()) as StudySnapshot;
    const res = await fetch(`${base}/api/ui/studies/st-api?limit=2&offset=1`);
    const page = (await res.json()) as StudySnapshot;
    expect(page.rows.map((r) => [r.rank, r.trialId])).toEqual(
      whole.rows.slice(1, 3).map((r) => [r.rank, r.trialId]),
    );
    expect(page.page).toEqual({ offset: 1, limit: 2, total: 6 });
    expect(res.headers.get('x-total-count')).toBe('6');
    expect(res.headers.get('link')).toBe('</api/ui/studies/st-api?limit=2&offset=3>; rel="next"');
    expect(page.curves.map((c) => c.trialId).sort()).toEqual(page.rows.map((r) => r.trialId).sort());
    const over = await fetch(`${base}/api/ui/studies/st-api?limit=1001`);
    expect(over.status).toBe(400);
    expect(JSON.stringify(await over.json())).toMatch(/limit/);
  });

  /** A live-update stream of st-api, read one event of a kind at a time. */
  async function openStream(controller: AbortController) {
    const res = await fetch(`${base}/api/studies/st-api/events`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    return async (kind: 'snapshot' | 'delta'): Promise<string> => {
      const pattern = new RegExp(`event: ${kind}\ndata: (.*)\n\n`);
      while (!pattern.test(text)) text += decoder.decode((await reader.read()).value, { stream: true });
      const match = pattern.exec(text)!;
      text = text.slice(match.index + match[0].length);
      return match[1]!;
    };
  }

  it('streams a snapshot, then numbered deltas holding only what changed', async () => {
    const controller = new AbortController();
    const nextEvent = await openStream(controller);
    const first = JSON.parse(await nextEvent('snapshot')) as StudySnapshot & { seq: number };
    expect(first.rows).toHaveLength(6);

    const lastTrial = first.rows.at(-1)!;
    await tdb.database.db.update(studies).set({ name: 'renamed live' }).where(eq(studies.id, 'st-api'));
    await tdb.database.db.update(trials).set({ workerId: 'w-live' }).where(eq(trials.id, lastTrial.trialId));
    await notifyStudy(tdb.database.db, 'st-api');
    const delta = JSON.parse(await nextEvent('delta')) as SnapshotDelta;
    expect(delta.seq).toBe(first.seq + 1);
    expect(delta.study.name).toBe('renamed live');
    expect(delta.rows.map((r) => [r.trialId, r.worker])).toEqual([[lastTrial.trialId, 'w-live']]);
    expect(delta.order).toEqual(first.rows.map((r) => r.trialId));
    expect(delta.curves).toEqual([]);
    // Worker heartbeats age between two events; nothing else on the page changed.
    expect(Object.keys(delta.changed).filter((k) => k !== 'workers')).toEqual([]);
    // A page that connects now starts from the snapshot the delta led to, under the same seq.
    const late = new AbortController();
    const joined = JSON.parse(await (await openStream(late))('snapshot')) as StudySnapshot & { seq: number };
    expect(joined.seq).toBe(delta.seq);
    expect(joined.rows.find((r) => r.trialId === lastTrial.trialId)?.worker).toBe('w-live');
    late.abort();
    controller.abort();
    await tdb.database.db
      .update(trials)
      .set({ workerId: lastTrial.worker })
      .where(eq(trials.id, lastTrial.trialId));
  });

  it('validates the study id of a live-update stream and caps the streams per client', async () => {
    expect((await fetch(`${base}/api/studies/${'x'.repeat(100)}/events`)).status).toBe(400);
    const controllers: AbortController[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 17; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      const r = await fetch(`${base}/api/studies/st-api/events`, { signal: controller.signal });
      statuses.push(r.status);
      if (r.status !== 200) await r.text();
    }
    expect(statuses.slice(0, 16).every((st) => st === 200)).toBe(true);
    expect(statuses[16]).toBe(429);
    for (const c of controllers) c.abort();
  });

  it('answers /healthz, /readyz, /metrics and /queues', async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', redis: 'ok' },
    });
    // The fixture's heartbeats are as old as the file's run (15 s TTL): renew them, as live workers do.
    await tdb.database.db.update(workers).set({ lastHeartbeat: new Date() });
    // A worker event no coordinator has recorded yet (none runs here) shows in the backlog.
    const redis = createRedis(REDIS_URL);
    await publishWorkerEvent(redis, PREFIX, {
      kind: 'failed',
      studyId: 'st-api',
      trialId: 'st-api:0',
      rung: 0,
      jobId: 'st-api:0:0',
      workerId: 'w-metrics',
      at: Date.now(),
      error: 'out of memory',
    });
    redis.disconnect();
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('braintune_results_backlog{lane="closing"} 1');
    expect(metrics).toContain('braintune_results_backlog{lane="progress"} 0');
    for (const name of [
      'braintune_trials{status="completed"}',
      'braintune_queue_depth',
      'braintune_epoch_duration_seconds_bucket',
      'braintune_workers_online 2',
      'braintune_training_images_per_second{',
    ]) {
      expect(metrics).toContain(name);
    }
    const queues = await fetch(`${base}/queues`);
    expect(queues.status).toBe(200);
    expect(await queues.text()).toMatch(/<html/i);
    // The board shows the trial queue and the preparations behind it.
    const board = (await (await fetch(`${base}/queues/api/queues`)).json()) as { queues: { name: string }[] };
    expect(board.queues.map((q) => q.name).sort()).toEqual(['braintune-prepare', 'braintune-trials']);
  });
});
