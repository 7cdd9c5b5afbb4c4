import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ArtifactStore } from '@braintune/artifacts';
import { RegistryService, modelVersions } from '@braintune/coordinator';
import { writeTinyCheckpoint } from './checkpoint.js';
import { createTestDatabase, seedStudy } from './fixtures.js';

/**
 * Promote while the object store refuses the registry's uploads: a real S3 server (s3rver)
 * behind a real HTTP proxy that answers 403 to every write under `registry/` and passes the
 * rest through (so the checkpoint can still be read). No version may be committed.
 */
const BUCKET = 'braintune-promote';
let work: string;
let s3: S3rver;
let proxy: Server;
let tdb: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'braintune-promote-push-'));
  s3 = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: path.join(work, 's3'),
    configureBuckets: [{ name: BUCKET }],
  });
  const target = (await s3.run()).port;
  proxy = createServer((req, res) => {
    if (req.method === 'PUT' && decodeURIComponent(req.url ?? '').includes('/registry/')) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code><Message>injected failure</Message></Error>');
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  tdb = await createTestDatabase(`bt_promote_push_${process.pid}`);
}, 60_000);

afterAll(async () => {
  proxy?.close();
  await s3?.close();
  await tdb?.drop();
  await rm(work, { recursive: true, force: true });
});

function store(cache: string): S3ArtifactStore {
  const client = new Client({
    endPoint: '127.0.0.1',
    port: (proxy.address() as AddressInfo).port,
    useSSL: false,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    pathStyle: true,
    region: 'us-east-1',
  });
  return new S3ArtifactStore({ client, bucket: BUCKET, prefix: 'a', cacheDir: path.join(work, cache) });
}

describe('registry promote with a failing artifact push', () => {
  it('commits no version without its files, and leaves no local copy behind', async () => {
    const db = tdb.database.db;
    const { bestTrialId } = await seedStudy(db, { studyId: 'st-push', trials: 3, epochs: 3 });
    const writer = store('writer');
    const key = `checkpoints/st-push/${bestTrialId.split(':')[1]}`;
    await writeTinyCheckpoint(writer.localDir(key), { seed: 3 });
    await writer.push(key);

    const artifacts = store('registry');
    const registry = new RegistryService(db, artifacts);
    await expect(
      registry.promote({ studyId: 'st-push', model: 'brain-mri', alias: 'production', by: 'test' }),
    ).rejects.toThrow();
    expect(await db.select().from(modelVersions)).toEqual([]);
    expect(await artifacts.exists('registry/brain-mri/v1')).toBe(false);
    await expect(registry.resolve('brain-mri@production')).rejects.toThrow();
  }, 60_000);
});
