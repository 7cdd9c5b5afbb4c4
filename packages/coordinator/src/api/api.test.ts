import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { migrateDatabase, openDatabase, type Database } from '../db/client.js';
import { modelAliases, models, studies } from '../db/schema.js';
import { defaultStudyFactory } from '../service/study-factory.js';
import { createApiRouter } from './router.js';

const ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `bt_api_${randomBytes(3).toString('hex')}`;
const url = ADMIN.replace(/\/postgres$/, `/${dbName}`);

let dataRoot: string;
const config = (scheduler: string, dataPath = path.join(dataRoot, 'data')) => `name: api-test
dataset: {path: ${JSON.stringify(dataPath)}, imageSize: 16}
searchSpace:
  learningRate: {type: float, min: 0.001, max: 0.1, sampling: log}
scheduler: ${scheduler}
`;

describe('REST API', () => {
  let database: Database;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    dataRoot = await mkdtemp(path.join(tmpdir(), 'braintune-api-'));
    for (const cls of ['a', 'b']) {
      await mkdir(path.join(dataRoot, 'data', cls), { recursive: true });
      await writeFile(path.join(dataRoot, 'data', cls, '1.png'), 'not decoded at submission');
    }
    await symlink('/etc', path.join(dataRoot, 'escape'));
    await migrateDatabase(url); // also creates the database
    database = openDatabase(url, { max: 2 });
    const app = express();
    app.use(
      createApiRouter({
        db: database.db,
        studies: defaultStudyFactory,
        dataPaths: { roots: [dataRoot] },
      }),
    );
    server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
    server?.close();
    await database?.close();
    const admin = new pg.Client({ connectionString: ADMIN });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  });

  const post = (path: string, body?: string, type = 'application/yaml') =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: body === undefined ? {} : { 'content-type': type },
      ...(body === undefined ? {} : { body }),
    });

  it('accepts YAML and JSON configs and reports the Hyperband plan', async () => {
    const res = await post(
      '/api/studies',
      config('{type: hyperband, maxEpochs: 9, factor: 3, iterations: 1}'),
    );
    expect(res.status).toBe(201);
    const body = (await res.json()) as { studyId: string; state: string; plannedRungs: number };
    expect(body).toMatchObject({ state: 'queued', plannedRungs: 23 });
    expect(body.studyId).toMatch(/^st-[0-9a-f]{10}$/);

    const json = {
      name: 'json',
      dataset: { path: path.join(dataRoot, 'data'), imageSize: 16 },
      scheduler: { type: 'random', epochs: 2, maxTrials: 3 },
    };
    const res2 = await post('/api/studies', JSON.stringify(json), 'application/json');
    expect(res2.status).toBe(201);

    const list = (await (await fetch(`${base}/api/studies`)).json()) as { studyId: string; state: string }[];
    expect(list.map((s) => s.studyId)).toContain(body.studyId);
    const one = (await (await fetch(`${base}/api/studies/${body.studyId}`)).json()) as Record<
      string,
      unknown
    >;
    expect(one).toMatchObject({
      studyId: body.studyId,
      state: 'queued',
      trials: { total: 0 },
      rungs: { planned: 23, completed: 0 },
      best: null,
    });
    const trials = await fetch(`${base}/api/studies/${body.studyId}/trials?sort=objective`);
    expect(trials.status).toBe(200);
    expect(await trials.json()).toEqual([]);
  });

  it('rejects a bad config with 400 naming the field, the value and what is allowed', async () => {
    const res = await post('/api/studies', config('{type: hyperband, maxEpochs: 9, factor: 1}'));
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      error: string;
      hint: string;
      issues: { path: string; message: string }[];
    };
    expect(body.error).toBe('invalid_input');
    expect(body.issues.some((i) => i.path === 'scheduler.factor' && /1/.test(i.message))).toBe(true);
    expect(body.hint).toEqual(expect.any(String));

    const empty = await post('/api/studies', '   ');
    expect(empty.status).toBe(400);
    const yaml = await post('/api/studies', 'name: [unclosed');
    expect(yaml.status).toBe(400);
  });

  it('answers 404 for unknown studies, 400 for bad parameters, 409 for a second cancel', async () => {
    expect((await fetch(`${base}/api/studies/st-0000000000`)).status).toBe(404);
    expect((await fetch(`${base}/api/studies/st-0000000000/trials`)).status).toBe(404);
    const bad = await fetch(`${base}/api/studies/whatever/trials?sort=sideways`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { issues: { path: string }[] }).issues[0]?.path).toBe('sort');

    const created = (await (
      await post('/api/studies', config('{type: random, epochs: 1, maxTrials: 2}'))
    ).json()) as { studyId: string };
    const cancel = await post(`/api/studies/${created.studyId}/cancel`);
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as { state: string }).state).toBe('cancelled');
    const again = await post(`/api/studies/${created.studyId}/cancel`);
    expect(again.status).toBe(409);
    expect((await post('/api/studies/st-0000000000/cancel')).status).toBe(404);
  });

  it('refuses data paths outside the data roots with 400 naming the roots, never the host layout', async () => {
    for (const where of [
      '/etc',
      '/nonexistent/data',
      path.join(dataRoot, 'escape'),
      path.join(dataRoot, 'missing'),
    ]) {
      const res = await post('/api/studies', config('{type: random, epochs: 1, maxTrials: 1}', where));
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; message: string; hint: string };
      expect(body.error).toBe('invalid_input');
      expect(body.message).toContain('dataset.path');
      expect(body.hint).toContain(dataRoot);
    }
    // Outside every root: the same answer whether the path exists or not.
    const a = (await (await post('/api/studies', config('{type: random, epochs: 1}', '/etc'))).json()) as {
      message: string;
    };
    const b = (await (await post('/api/studies', config('{type: random, epochs: 1}', '/nope'))).json()) as {
      message: string;
    };
    expect(a.message.replace('/etc', 'X')).toBe(b.message.replace('/nope', 'X'));
  });

  it('refuses text/plain and cross-site submissions (CSRF)', async () => {
    const plain = await post('/api/studies', config('{type: random, epochs: 1}'), 'text/plain');
    expect(plain.status).toBe(415);
    const form = await post('/api/studies', 'name=x', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);
    const crossSite = await fetch(`${base}/api/studies`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml', origin: 'http://evil.example' },
      body: config('{type: random, epochs: 1}'),
    });
    expect(crossSite.status).toBe(403);
    const labelled = await fetch(`${base}/api/studies/st-0000000000/cancel`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(labelled.status).toBe(403);
    const sameOrigin = await fetch(`${base}/api/studies`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml', origin: base },
      body: config('{type: random, epochs: 1, maxTrials: 1}'),
    });
    expect(sameOrigin.status).toBe(201);
  });

  it('pages the trial and study lists with limit/offset and a Link header', async () => {
    const first = await fetch(`${base}/api/studies?limit=1`);
    expect(((await first.json()) as unknown[]).length).toBe(1);
    expect(first.headers.get('link')).toMatch(/offset=1.*rel="next"/);
    const stored = await database.db.select({ id: studies.id }).from(studies);
    expect(first.headers.get('x-total-count')).toBe(String(stored.length));
    const last = await fetch(`${base}/api/studies?limit=1&offset=${stored.length - 1}`);
    expect(((await last.json()) as unknown[]).length).toBe(1);
    expect(last.headers.get('link')).toBeNull();
    const workerPage = await fetch(`${base}/api/workers?limit=5`);
    expect(workerPage.headers.get('x-total-count')).toMatch(/^\d+$/);
    expect((await fetch(`${base}/api/studies?limit=100000`)).status).toBe(400);
  });

  it('pins a transfer base named by alias to its current version; refuses URLs', async () => {
    const transfer = (ref: string) =>
      config('{type: random, epochs: 1, maxTrials: 1}').replace(
        'searchSpace:\n',
        `searchSpace:\n  family: transfer\n  baseModelUrl: ${JSON.stringify(ref)}\n`,
      );
    const missing = await post('/api/studies', transfer('registry:tiny@production'));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({
      error: 'invalid_input',
      message: expect.stringContaining('no alias production'),
    });
    const url = await post('/api/studies', transfer('https://example.com/model.json'));
    expect(url.status).toBe(400);
    await database.db.insert(models).values({ name: 'tiny' });
    await database.db.insert(modelAliases).values({ modelName: 'tiny', alias: 'production', version: 3 });
    const ok = await post('/api/studies', transfer('registry:tiny@production'));
    expect(ok.status).toBe(201);
    const { studyId } = (await ok.json()) as { studyId: string };
    const [row] = await database.db.select().from(studies).where(eq(studies.id, studyId));
    expect(JSON.stringify(row!.config)).toContain('registry:tiny@v3');
    expect(JSON.stringify(row!.source)).not.toContain('@production');
  });

  it('lists workers and serves an OpenAPI document generated from the schemas', async () => {
    expect(await (await fetch(`${base}/api/workers`)).json()).toEqual([]);
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/studies',
        '/api/studies/{id}',
        '/api/studies/{id}/trials',
        '/api/studies/{id}/cancel',
        '/api/workers',
      ]),
    );
    const summary = JSON.stringify(doc.paths['/api/studies/{id}']);
    expect(summary).toContain('valMacroF1');
  });
});
