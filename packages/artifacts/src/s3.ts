import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Client } from 'minio';
import { z } from 'zod';
import { BraintuneError, NotFoundError } from '@braintune/protocol';
import { assertValidKey, type ArtifactStore } from './store.js';

/**
 * Name of the object that makes an artifact visible. It holds the manifest (every file with
 * its size and md5) and is written after every file, so a reader that finds it can fetch a
 * complete artifact; a reader that does not find it treats the artifact as absent.
 */
export const MARKER_NAME = '.braintune-artifact.json';
const TMP_INFIX = '.braintune-tmp-';

const ManifestSchema = z.object({
  format: z.literal('braintune-artifact/1'),
  key: z.string(),
  pushedAt: z.string(),
  files: z.array(
    z.object({
      path: z.string().min(1),
      size: z.number().int().min(0),
      md5: z.string().regex(/^[0-9a-f]{32}$/),
      /** ETag the server gave the upload (equal to md5 unless it was a multipart upload). */
      etag: z.string(),
    }),
  ),
});
type Manifest = z.infer<typeof ManifestSchema>;
type ManifestFile = Manifest['files'][number];

/** What the cache knows about each file it downloaded or uploaded, to skip unchanged ones. */
const CacheStateSchema = z.object({
  files: z.record(z.string(), z.object({ size: z.number(), mtimeMs: z.number(), md5: z.string() })),
});
type CacheState = z.infer<typeof CacheStateSchema>;

export interface S3ArtifactStoreOptions {
  client: Client;
  bucket: string;
  /** Key prefix inside the bucket ('' for the root). */
  prefix: string;
  /** Local directory that caches downloaded artifacts (localDir(key) lives under it). */
  cacheDir: string;
  /** Parallel transfers per pull/push. Default 8. */
  concurrency?: number;
  /** How often a pull restarts when the artifact changes under it (a concurrent push). Default 3. */
  maxPullAttempts?: number;
}

/** Thrown when a download does not match its manifest: the artifact was re-pushed meanwhile. */
class ArtifactChangedError extends Error {}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchObject';
}

function wrapS3Error(err: unknown, action: string, location: string): BraintuneError {
  if (err instanceof BraintuneError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'NoSuchBucket') {
    return new NotFoundError(
      `${action} failed: bucket of ${location} does not exist`,
      'create the bucket first (e.g. `mc mb`), or fix ARTIFACT_ROOT',
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new BraintuneError(
    `${action} failed on ${location}: ${message}`,
    's3_error',
    'check S3_ENDPOINT, AWS_REGION and the AWS_* credentials',
    { cause: err },
  );
}

/** Runs fn over items with at most `limit` in flight. */
async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

async function md5OfFile(file: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Relative POSIX paths of every regular file under dir (temp files of an unfinished download excluded). */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.includes(TMP_INFIX))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

async function writeFileAtomic(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}${TMP_INFIX}${randomBytes(6).toString('hex')}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/**
 * Artifacts in an S3-compatible bucket (AWS S3, MinIO, …) under `s3://bucket/prefix/<key>/`,
 * with a local cache directory per process or machine.
 *
 * - push uploads the files that changed since the last published manifest, then writes the
 *   marker (manifest) last, then deletes objects the new manifest no longer lists.
 * - pull reads the marker and downloads only files whose size/md5 differ from the cached
 *   copy; each download is checked against the manifest's md5, so a push that overwrites the
 *   artifact meanwhile makes the pull start over instead of mixing two versions.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly location: string;
  readonly cacheDir: string;
  private readonly client: Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly concurrency: number;
  private readonly maxPullAttempts: number;

  constructor(options: S3ArtifactStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.cacheDir = path.resolve(options.cacheDir);
    this.concurrency = options.concurrency ?? 8;
    this.maxPullAttempts = options.maxPullAttempts ?? 3;
    this.location = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  localDir(key: string): string {
    assertValidKey(key);
    return path.join(this.cacheDir, key);
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(key);
    try {
      await this.client.statObject(this.bucket, this.markerName(key));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw wrapS3Error(err, `exists(${key})`, this.location);
    }
  }

  async pull(key: string): Promise<boolean> {
    assertValidKey(key);
    for (let attempt = 1; ; attempt++) {
      try {
        const manifest = await this.readManifest(key);
        if (!manifest) return false;
        await this.download(key, manifest);
        return true;
      } catch (err) {
        if (err instanceof ArtifactChangedError && attempt < this.maxPullAttempts) continue;
        if (err instanceof ArtifactChangedError) {
          throw new BraintuneError(
            `pull(${key}) from ${this.location}: the artifact kept changing during ${attempt} attempts`,
            'artifact_changing',
            'another process is pushing the same key repeatedly; retry later',
          );
        }
        throw wrapS3Error(err, `pull(${key})`, this.location);
      }
    }
  }

  async push(key: string): Promise<void> {
    assertValidKey(key);
    const dir = this.localDir(key);
    let files: string[];
    try {
      files = await listFiles(dir);
    } catch {
      throw new NotFoundError(
        `push(${key}): nothing to publish at ${dir}`,
        'write the artifact into localDir(key) before pushing it',
      );
    }
    if (files.includes(MARKER_NAME)) {
      throw new BraintuneError(
        `push(${key}): a file may not be named ${MARKER_NAME}`,
        'reserved_name',
        'rename the file',
      );
    }
    try {
      const previous = await this.readManifest(key);
      const remote = await this.listRemote(key);
      const previousByPath = new Map((previous?.files ?? []).map((f) => [f.path, f]));
      const entries: ManifestFile[] = [];
      const state: CacheState = { files: {} };
      await forEachLimit(files, this.concurrency, async (rel) => {
        const file = path.join(dir, ...rel.split('/'));
        const info = await stat(file);
        const md5 = await md5OfFile(file);
        const before = previousByPath.get(rel);
        const objectName = this.objectName(key, rel);
        const unchanged =
          before &&
          before.md5 === md5 &&
          before.size === info.size &&
          remote.get(objectName)?.etag === before.etag;
        const etag = unchanged
          ? before.etag
          : (
              await this.client.putObject(this.bucket, objectName, createReadStream(file), info.size)
            ).etag.replace(/"/g, '');
        entries.push({ path: rel, size: info.size, md5, etag });
        state.files[rel] = { size: info.size, mtimeMs: info.mtimeMs, md5 };
      });
      entries.sort((a, b) => a.path.localeCompare(b.path));
      const manifest: Manifest = {
        format: 'braintune-artifact/1',
        key,
        pushedAt: new Date().toISOString(),
        files: entries,
      };
      // The marker goes last: until it exists (or while it still names the old files) no reader
      // can assemble a mix of old and new files.
      const body = Buffer.from(JSON.stringify(manifest));
      await this.client.putObject(this.bucket, this.markerName(key), body, body.length, {
        'Content-Type': 'application/json',
      });
      const stale = [...previousByPath.keys()]
        .filter((p) => !files.includes(p))
        .map((p) => this.objectName(key, p));
      if (stale.length > 0) await this.client.removeObjects(this.bucket, stale);
      await this.writeState(key, state);
    } catch (err) {
      throw wrapS3Error(err, `push(${key})`, this.location);
    }
  }

  async remove(key: string): Promise<void> {
    assertValidKey(key);
    try {
      // Marker first: from now on readers see no artifact, never a partial one.
      await this.client.removeObject(this.bucket, this.markerName(key));
      const names = [...(await this.listRemote(key)).keys()];
      for (let i = 0; i < names.length; i += 1000)
        await this.client.removeObjects(this.bucket, names.slice(i, i + 1000));
    } catch (err) {
      throw wrapS3Error(err, `remove(${key})`, this.location);
    }
    await rm(this.localDir(key), { recursive: true, force: true });
    await rm(this.statePath(key), { force: true });
  }

  private objectName(key: string, rel: string): string {
    return `${this.prefix ? `${this.prefix}/` : ''}${key}/${rel}`;
  }

  private markerName(key: string): string {
    return this.objectName(key, MARKER_NAME);
  }

  /** Cache bookkeeping lives beside the artifacts, outside every localDir. */
  private statePath(key: string): string {
    return path.join(this.cacheDir, '.braintune-cache', `${key}.json`);
  }

  private async readManifest(key: string): Promise<Manifest | undefined> {
    let text: string;
    try {
      const stream = await this.client.getObject(this.bucket, this.markerName(key));
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const parsed = ManifestSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new BraintuneError(
        `artifact ${key} in ${this.location} has an unreadable manifest`,
        'bad_manifest',
        'push the artifact again',
      );
    }
    return parsed.data;
  }

  /** Object name → {size, etag} of everything under the key. */
  private async listRemote(key: string): Promise<Map<string, { size: number; etag: string }>> {
    const out = new Map<string, { size: number; etag: string }>();
    const stream = this.client.listObjectsV2(this.bucket, this.objectName(key, ''), true);
    for await (const item of stream as AsyncIterable<{ name?: string; size: number; etag?: string }>) {
      if (item.name) out.set(item.name, { size: item.size, etag: (item.etag ?? '').replace(/"/g, '') });
    }
    return out;
  }

  private async readState(key: string): Promise<CacheState> {
    try {
      const parsed = CacheStateSchema.safeParse(JSON.parse(await readFile(this.statePath(key), 'utf8')));
      return parsed.success ? parsed.data : { files: {} };
    } catch {
      return { files: {} };
    }
  }

  private async writeState(key: string, state: CacheState): Promise<void> {
    await writeFileAtomic(this.statePath(key), JSON.stringify(state));
  }

  private async download(key: string, manifest: Manifest): Promise<void> {
    const dir = this.localDir(key);
    const previous = await this.readState(key);
    const state: CacheState = { files: {} };
    await forEachLimit(manifest.files, this.concurrency, async (entry) => {
      const file = path.join(dir, ...entry.path.split('/'));
      const local = await stat(file).catch(() => undefined);
      if (local?.isFile() && local.size === entry.size) {
        const known = previous.files[entry.path];
        const md5 =
          known && known.size === local.size && known.mtimeMs === local.mtimeMs
            ? known.md5
            : await md5OfFile(file);
        if (md5 === entry.md5) {
          state.files[entry.path] = { size: local.size, mtimeMs: local.mtimeMs, md5 };
          return;
        }
      }
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}${TMP_INFIX}${randomBytes(6).toString('hex')}`;
      const hash = createHash('md5');
      try {
        let source;
        try {
          source = await this.client.getObject(this.bucket, this.objectName(key, entry.path));
        } catch (err) {
          // Deleted by a push that replaced the artifact after we read its manifest.
          if (isNotFound(err)) throw new ArtifactChangedError(entry.path);
          throw err;
        }
        const hashing = new Transform({
          transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            done(null, chunk);
          },
        });
        await pipeline(source, hashing, createWriteStream(tmp));
        if (hash.digest('hex') !== entry.md5) throw new ArtifactChangedError(entry.path);
        await rename(tmp, file);
      } finally {
        await rm(tmp, { force: true });
      }
      const written = await stat(file);
      state.files[entry.path] = { size: written.size, mtimeMs: written.mtimeMs, md5: entry.md5 };
    });
    // Files this cache fetched for an older version of the artifact, and that the current one
    // no longer has, go away; anything else in the directory is left alone.
    for (const rel of Object.keys(previous.files)) {
      if (!(rel in state.files)) await rm(path.join(dir, ...rel.split('/')), { force: true });
    }
    await this.writeState(key, state);
  }
}
