import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError } from '@braintune/protocol';
import { MARKER_NAME, S3ArtifactStore, openArtifactStore, parseS3Url } from '../src/index.js';
import { describeArtifactStoreContract } from './contract.js';

/**
 * Runs against a real S3-compatible server: s3rver (npm), started here on a free port with a
 * throw-away directory. Its event stream shows the order in which objects were written.
 */
const BUCKET = 'braintune-test';
let server: S3rver;
let port: number;
let work: string;
const events: Array<{ name: string; key: string }> = [];

function client(): Client {
  return new Client({
    endPoint: '127.0.0.1',
    port,
    useSSL: false,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    pathStyle: true,
    region: 'us-east-1',
  });
}

function store(prefix: string, cacheName: string): S3ArtifactStore {
  return new S3ArtifactStore({
    client: client(),
    bucket: BUCKET,
    prefix,
    cacheDir: path.join(work, 'cache', cacheName),
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'braintune-s3-store-'));
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: path.join(work, 'server'),
    configureBuckets: [{ name: BUCKET }],
  });
  server.on('event', (e) => {
    for (const r of e.Records) events.push({ name: r.eventName, key: decodeURIComponent(r.s3.object.key) });
  });
  port = (await server.run()).port;
});
afterAll(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

describeArtifactStoreContract('s3 (s3rver)', async (testName) => ({
  writer: store(`contract/${testName}`, `${testName}-writer`),
  reader: store(`contract/${testName}`, `${testName}-reader`),
}));

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
}

describe('S3ArtifactStore', () => {
  it('writes the marker object after every file of the artifact, and only uploads changed files', async () => {
    const writer = store('order', 'order-writer');
    const key = 'checkpoints/s1/t1';
    await writeFiles(writer.localDir(key), {
      'a.bin': 'A'.repeat(1000),
      'b.bin': 'B'.repeat(1000),
      'c/d.json': '{}',
    });
    events.length = 0;
    await writer.push(key);
    const created = events.filter((e) => e.name.startsWith('ObjectCreated')).map((e) => e.key);
    expect(created).toHaveLength(4);
    expect(created.at(-1)).toBe(`order/${key}/${MARKER_NAME}`);

    // Change one file: only it and the marker are written again.
    await writeFile(path.join(writer.localDir(key), 'b.bin'), 'b'.repeat(1000));
    events.length = 0;
    await writer.push(key);
    expect(events.filter((e) => e.name.startsWith('ObjectCreated')).map((e) => e.key)).toEqual([
      `order/${key}/b.bin`,
      `order/${key}/${MARKER_NAME}`,
    ]);

    // Delete one file: a new marker is written, and the stale object goes away.
    await rm(path.join(writer.localDir(key), 'a.bin'));
    events.length = 0;
    await writer.push(key);
    expect(events.map((e) => e.key)).toEqual([`order/${key}/${MARKER_NAME}`]);
    const remaining: string[] = [];
    for await (const o of client().listObjectsV2(BUCKET, `order/${key}/`, true) as AsyncIterable<{
      name: string;
    }>)
      remaining.push(o.name);
    expect(remaining.sort()).toEqual([
      `order/${key}/${MARKER_NAME}`,
      `order/${key}/b.bin`,
      `order/${key}/c/d.json`,
    ]);
  });

  it('is invisible to readers until the marker exists (an interrupted push publishes nothing)', async () => {
    const reader = store('partial', 'partial-reader');
    const raw = client();
    // What a writer that died before its marker leaves behind: files but no marker.
    await raw.putObject(BUCKET, 'partial/datasets/h/images.bin', Buffer.from('half'));
    expect(await reader.exists('datasets/h')).toBe(false);
    expect(await reader.pull('datasets/h')).toBe(false);
  });

  it('pull downloads only what changed and leaves unchanged cached files untouched', async () => {
    const writer = store('cache', 'cache-writer');
    const reader = store('cache', 'cache-reader');
    const key = 'datasets/abc';
    await writeFiles(writer.localDir(key), { 'images.bin': 'x'.repeat(5000), 'manifest.json': '{"v":1}' });
    await writer.push(key);
    expect(await reader.pull(key)).toBe(true);
    const images = path.join(reader.localDir(key), 'images.bin');
    const manifest = path.join(reader.localDir(key), 'manifest.json');
    const before = { images: (await stat(images)).ino, manifest: (await stat(manifest)).ino };

    expect(await reader.pull(key)).toBe(true);
    expect((await stat(images)).ino).toBe(before.images);
    expect((await stat(manifest)).ino).toBe(before.manifest);

    await writeFile(path.join(writer.localDir(key), 'manifest.json'), '{"v":2}');
    await writer.push(key);
    expect(await reader.pull(key)).toBe(true);
    expect((await stat(images)).ino).toBe(before.images); // unchanged: not downloaded again
    expect((await stat(manifest)).ino).not.toBe(before.manifest); // changed: replaced
    expect(await readFile(manifest, 'utf8')).toBe('{"v":2}');
  });

  it('repairs a cached file that was corrupted locally', async () => {
    const writer = store('repair', 'repair-writer');
    const reader = store('repair', 'repair-reader');
    const key = 'checkpoints/a/b';
    await writeFiles(writer.localDir(key), { 'w.bin': '0123456789' });
    await writer.push(key);
    await reader.pull(key);
    const cached = path.join(reader.localDir(key), 'w.bin');
    await writeFile(cached, 'xxxxxxxxxx'); // same size, other content, new mtime
    await reader.pull(key);
    expect(await readFile(cached, 'utf8')).toBe('0123456789');
  });

  it('starts a pull over when the artifact is replaced under it, never mixing versions', async () => {
    const writer = store('race', 'race-writer');
    const reader = store('race', 'race-reader');
    const key = 'registry/m/v1';
    await writeFiles(writer.localDir(key), { 'model.json': 'old-model', 'weights.bin': 'old-weights' });
    await writer.push(key);
    // A second writer overwrites one file in place without (yet) a new marker: the manifest's md5
    // no longer matches, so the reader must not accept the mix.
    await client().putObject(BUCKET, `race/${key}/weights.bin`, Buffer.from('NEW-weights'));
    await expect(reader.pull(key)).rejects.toThrow(/kept changing/);
    await expect(stat(path.join(reader.localDir(key), 'weights.bin'))).rejects.toThrow();
  });

  it('refuses to push a directory that does not exist, with a hint', async () => {
    const writer = store('nothing', 'nothing-writer');
    await expect(writer.push('checkpoints/none/here')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('names a missing bucket in the error', async () => {
    const s = new S3ArtifactStore({
      client: client(),
      bucket: 'no-such-bucket',
      prefix: '',
      cacheDir: path.join(work, 'cache', 'nobucket'),
    });
    await writeFiles(s.localDir('datasets/x'), { 'a.txt': 'a' });
    await expect(s.push('datasets/x')).rejects.toThrow(/bucket/);
  });
});

describe('openArtifactStore (s3://)', () => {
  it('reads endpoint, credentials and cache directory from the environment, path-style for MinIO', async () => {
    const env = {
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      ARTIFACT_CACHE_DIR: path.join(work, 'env-cache'),
    };
    const a = openArtifactStore(`s3://${BUCKET}/env/prefix/`, env);
    expect(a.location).toBe(`s3://${BUCKET}/env/prefix`);
    expect(a.localDir('datasets/z')).toBe(
      path.join(work, 'env-cache', BUCKET, 'env', 'prefix', 'datasets', 'z'),
    );
    await writeFiles(a.localDir('datasets/z'), { 'f.txt': 'via env' });
    await a.push('datasets/z');
    const objects: string[] = [];
    for await (const o of client().listObjectsV2(BUCKET, 'env/prefix/', true) as AsyncIterable<{
      name: string;
    }>)
      objects.push(o.name);
    expect(objects.sort()).toEqual([`env/prefix/datasets/z/${MARKER_NAME}`, 'env/prefix/datasets/z/f.txt']);
  });

  it('rejects malformed locations and settings with a typed error', () => {
    expect(() => parseS3Url('s3://')).toThrow(InvalidInputError);
    expect(() => parseS3Url('s3://Bad_Bucket/x')).toThrow(InvalidInputError);
    expect(() => parseS3Url('s3://bucket/a/../b')).toThrow(InvalidInputError);
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(() => openArtifactStore('s3://bucket/p', { S3_ENDPOINT: 'not a url' })).toThrow(InvalidInputError);
  });
});
