import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../src/index.js';

/**
 * Two views of one store: `writer` publishes, `reader` is another process (for a filesystem
 * root, the same directory; for S3, a second cache directory on another "machine").
 */
export interface StorePair {
  writer: ArtifactStore;
  reader: ArtifactStore;
}

async function writeTree(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, ...rel.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    out[path.relative(dir, full).split(path.sep).join('/')] = await readFile(full, 'utf8');
  }
  return out;
}

/**
 * Behaviour every ArtifactStore must show. `makePair` is called once per test with a unique
 * name, so tests do not share keys.
 */
export function describeArtifactStoreContract(
  name: string,
  makePair: (testName: string) => Promise<StorePair>,
): void {
  describe(`ArtifactStore contract: ${name}`, () => {
    it('publishes a directory tree that another process can pull, byte for byte', async () => {
      const { writer, reader } = await makePair('roundtrip');
      const key = 'checkpoints/study-1/trial-1';
      const blob = Buffer.alloc(300_000, 7);
      await writeTree(writer.localDir(key), {
        'model.json': '{"a":1}',
        'weights/w.bin': blob,
        'state.json': '{"epoch":3}',
      });
      await writer.push(key);
      expect(await reader.exists(key)).toBe(true);
      expect(await reader.pull(key)).toBe(true);
      const dir = reader.localDir(key);
      expect(await readFile(path.join(dir, 'model.json'), 'utf8')).toBe('{"a":1}');
      expect((await readFile(path.join(dir, 'weights', 'w.bin'))).equals(blob)).toBe(true);
      expect(await readFile(path.join(dir, 'state.json'), 'utf8')).toBe('{"epoch":3}');
    });

    it('reports a missing artifact as absent', async () => {
      const { reader } = await makePair('missing');
      expect(await reader.exists('datasets/nope')).toBe(false);
      expect(await reader.pull('datasets/nope')).toBe(false);
    });

    it('an overwrite replaces the whole artifact: changed, added and deleted files', async () => {
      const { writer, reader } = await makePair('overwrite');
      const key = 'registry/model/v1';
      await writeTree(writer.localDir(key), { 'a.txt': 'one', 'b.txt': 'two', 'sub/c.txt': 'three' });
      await writer.push(key);
      expect(await reader.pull(key)).toBe(true);
      await rm(path.join(writer.localDir(key), 'b.txt'));
      await writeTree(writer.localDir(key), { 'a.txt': 'ONE!', 'd.txt': 'four' });
      await writer.push(key);
      expect(await reader.pull(key)).toBe(true);
      expect(await readTree(reader.localDir(key))).toEqual({
        'a.txt': 'ONE!',
        'sub/c.txt': 'three',
        'd.txt': 'four',
      });
    });

    it('keeps keys that share a name prefix apart', async () => {
      const { writer, reader } = await makePair('prefixes');
      await writeTree(writer.localDir('datasets/ab'), { 'x.txt': 'ab' });
      await writeTree(writer.localDir('datasets/abc'), { 'x.txt': 'abc' });
      await writer.push('datasets/ab');
      await writer.push('datasets/abc');
      await writer.remove('datasets/ab');
      expect(await reader.exists('datasets/ab')).toBe(false);
      expect(await reader.pull('datasets/abc')).toBe(true);
      expect(await readFile(path.join(reader.localDir('datasets/abc'), 'x.txt'), 'utf8')).toBe('abc');
    });

    it('remove makes the artifact absent for every reader and clears the local copy', async () => {
      const { writer, reader } = await makePair('remove');
      const key = 'checkpoints/s/t';
      await writeTree(writer.localDir(key), { 'w.bin': 'weights' });
      await writer.push(key);
      expect(await reader.pull(key)).toBe(true);
      await writer.remove(key);
      expect(await writer.exists(key)).toBe(false);
      expect(await reader.exists(key)).toBe(false);
      expect(await reader.pull(key)).toBe(false);
      await expect(stat(writer.localDir(key))).rejects.toThrow();
    });

    it('rejects keys that could escape the store', async () => {
      const { writer } = await makePair('keys');
      for (const bad of ['../etc', 'a/../../b', '/abs', 'a//b', 'a/./b', '']) {
        expect(() => writer.localDir(bad), bad).toThrow(/invalid artifact key/);
        await expect(writer.pull(bad), bad).rejects.toThrow(/invalid artifact key/);
      }
    });

    it('localDir lies inside the store or its cache, one directory per key', async () => {
      const { writer } = await makePair('localdir');
      const a = writer.localDir('datasets/h1');
      const b = writer.localDir('datasets/h2');
      expect(a).not.toBe(b);
      expect(path.isAbsolute(a)).toBe(true);
      expect(a.endsWith(path.join('datasets', 'h1'))).toBe(true);
    });
  });
}
