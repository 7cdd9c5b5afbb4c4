import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore, openArtifactStore } from '../src/index.js';
import { describeArtifactStoreContract } from './contract.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'braintune-fs-store-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

// Two processes sharing one volume: two store objects over the same root.
describeArtifactStoreContract('filesystem', async (testName) => {
  const root = path.join(work, testName);
  return { writer: new FilesystemArtifactStore(root), reader: new FilesystemArtifactStore(root) };
});

describe('openArtifactStore (filesystem)', () => {
  it('opens a plain path and a file:// URL as the same filesystem root', () => {
    const root = path.join(work, 'open');
    const a = openArtifactStore(root);
    const b = openArtifactStore(pathToFileURL(root).href);
    expect(a).toBeInstanceOf(FilesystemArtifactStore);
    expect(b.localDir('datasets/x')).toBe(a.localDir('datasets/x'));
    expect(a.location).toBe(pathToFileURL(root).href);
  });
});
