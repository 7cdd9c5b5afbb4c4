import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import type express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { openApiPath } from '@braintune/coordinator';
import { createTestDatabase } from './fixtures.js';
import { startTestApp, type TestApp } from './test-app.js';

/**
 * `/api/openapi.json` is the one description of the HTTP API: it must be a valid OpenAPI
 * document and name every route the mounted routers serve (the same app `braintune up` builds:
 * the coordinator's API router, then the dashboard's).
 */
process.env.LOG_LEVEL ??= 'silent';
const prefix = `bt-openapi-${process.pid}`;

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let artifactsDir: string;
let testApp: TestApp;
let app: express.Express;
let base: string;

beforeAll(async () => {
  tdb = await createTestDatabase(`bt_openapi_${process.pid}`);
  artifactsDir = await mkdtemp(join(tmpdir(), 'braintune-openapi-'));
  testApp = await startTestApp({
    db: tdb.database.db,
    databaseUrl: tdb.url,
    artifacts: new FilesystemArtifactStore(artifactsDir),
    redisUrl: 'redis://127.0.0.1:6379/7',
    prefix,
  });
  ({ app, base } = testApp);
});

afterAll(async () => {
  await testApp?.close();
  await tdb?.drop();
  await rm(artifactsDir, { recursive: true, force: true });
});

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  slash?: boolean;
  name?: string;
}

/** Every `METHOD path` of the routers mounted at the root (sub-apps under a path are listed apart). */
function mountedRoutes(stack: Layer[], routes: string[] = [], mounted: string[] = []) {
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const path of paths)
        for (const [method, on] of Object.entries(layer.route.methods))
          if (on && method !== '_all') routes.push(`${method.toUpperCase()} ${path}`);
    } else if (layer.handle?.stack) {
      if (layer.slash) mountedRoutes(layer.handle.stack, routes, mounted);
      else mounted.push(layer.name ?? 'router');
    }
  }
  return { routes, mounted };
}

describe('GET /api/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const res = await fetch(`${base}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    const result = await new Validator().validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every route the mounted routers serve, with its method', async () => {
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
    const { routes } = mountedRoutes(stack);
    expect(routes.length).toBeGreaterThan(20);
    const missing = routes.filter((r) => {
      const [method, path] = r.split(' ') as [string, string];
      return doc.paths[openApiPath(path)]?.[method.toLowerCase()] === undefined;
    });
    expect(missing, 'routes served but not in /api/openapi.json').toEqual([]);
    // And nothing described that is not served (a renamed route must not linger in the document).
    const served = new Set(
      routes.map((r) => {
        const [method, path] = r.split(' ') as [string, string];
        return `${method.toLowerCase()} ${openApiPath(path)}`;
      }),
    );
    const stale = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .map((m) => `${m} ${path}`)
        .filter((op) => !served.has(op)),
    );
    expect(stale, 'described in /api/openapi.json but not served').toEqual([]);
  });

  it('takes its shapes from the zod schemas (a field added there appears here)', async () => {
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<
          string,
          {
            responses: Record<
              string,
              { content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }
            >;
          }
        >
      >;
    };
    const study = doc.paths['/api/studies/{id}']!.get!.responses['200']!.content!['application/json']!.schema;
    expect(Object.keys(study.properties ?? {})).toEqual(
      expect.arrayContaining(['studyId', 'state', 'endReason', 'best']),
    );
  });
});
