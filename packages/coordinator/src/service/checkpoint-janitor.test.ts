process.env.LOG_LEVEL ??= 'silent';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { createLogger } from '@braintune/protocol';
import { CheckpointJanitor } from './checkpoint-janitor.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'braintune-janitor-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function dirWithFile(key: string): Promise<void> {
  await mkdir(path.join(root, key), { recursive: true });
  await writeFile(path.join(root, key, 'weights.bin'), 'w');
}

describe('checkpoint janitor', () => {
  it('deletes superseded checkpoints and nothing outside checkpoints/', async () => {
    const store = new FilesystemArtifactStore(root);
    await dirWithFile('checkpoints/st-1/trial-0/attempt-a');
    await dirWithFile('checkpoints/st-1/trial-0/attempt-b');
    await dirWithFile('registry/brain-mri/v1');
    const janitor = new CheckpointJanitor(store, createLogger('test'));
    janitor.discard([
      'checkpoints/st-1/trial-0/attempt-a',
      'registry/brain-mri/v1',
      'checkpoints/never-written',
    ]);
    await janitor.drain();
    expect(await readdir(path.join(root, 'checkpoints/st-1/trial-0'))).toEqual(['attempt-b']);
    expect(await readdir(path.join(root, 'registry/brain-mri/v1'))).toEqual(['weights.bin']);
  });

  it('logs a deletion that fails and goes on with the next', async () => {
    const store = new FilesystemArtifactStore(root);
    await dirWithFile('checkpoints/st-2/trial-0/attempt-a');
    const janitor = new CheckpointJanitor(store, createLogger('test'));
    // The store refuses a key with ':' (not a valid artifact key): logged, not thrown.
    janitor.discard(['checkpoints/st-2:bad', 'checkpoints/st-2/trial-0/attempt-a']);
    await janitor.drain();
    expect(await readdir(path.join(root, 'checkpoints/st-2/trial-0'))).toEqual([]);
  });
});
