import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@braintune/protocol';
import { demoPhantomDir, ensureDemoPhantoms } from './phantom-data.js';

let root: string;
beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  root = await mkdtemp(path.join(tmpdir(), 'braintune-demo-phantoms-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('demo phantoms', () => {
  it('are generated once per spec and reused afterwards', async () => {
    const log = createLogger('test');
    const spec = { perClass: 2, size: 32, seed: 1 };
    const first = await ensureDemoPhantoms(root, spec, log);
    expect(first).toMatchObject({ dir: demoPhantomDir(root, spec), generated: true });
    expect((await readdir(first.dir)).sort()).toEqual([
      '.lesions',
      'glioma_tumor',
      'meningioma_tumor',
      'no_tumor',
      'pituitary_tumor',
    ]);
    const before = (await stat(path.join(first.dir, 'no_tumor', 'phantom-00001.jpg'))).mtimeMs;

    const again = await ensureDemoPhantoms(root, spec, log);
    expect(again).toMatchObject({ dir: first.dir, generated: false });
    expect((await stat(path.join(first.dir, 'no_tumor', 'phantom-00001.jpg'))).mtimeMs).toBe(before);

    // Another spec gets its own directory; an interrupted set (no marker) is regenerated.
    const other = await ensureDemoPhantoms(root, { ...spec, perClass: 3 }, log);
    expect(other.generated).toBe(true);
    expect(other.dir).not.toBe(first.dir);
    await rm(`${first.dir}.json`);
    expect((await ensureDemoPhantoms(root, spec, log)).generated).toBe(true);
  });
});
