import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';

/** Runs braintune and fails the test, with its stderr, unless it exits 0. */
async function braintune(args: string[]) {
  const r = await runCli(args, { ...process.env, LOG_LEVEL: 'silent' });
  expect(r.code, r.stderr).toBe(0);
  return r;
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'braintune-cli-phantoms-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('braintune make-phantoms', () => {
  it('writes the ImageFolder tree and prints a JSON summary as its last stdout line', async () => {
    const out = path.join(work, 'p');
    const { stdout } = await braintune([
      'make-phantoms',
      '--out',
      out,
      '--per-class',
      '3',
      '--size',
      '32',
      '--seed',
      '5',
    ]);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      files: number;
      perClass: number;
      size: number;
      seed: number;
    };
    expect(summary).toMatchObject({ files: 12, perClass: 3, size: 32, seed: 5 });
    for (const cls of ['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor']) {
      expect(await readdir(path.join(out, cls))).toHaveLength(3);
    }
    expect(summary).toMatchObject({ masksDir: null });
  });

  it('--masks writes a lesion mask per tumour scan under .lesions/', async () => {
    const out = path.join(work, 'm');
    const { stdout } = await braintune([
      'make-phantoms',
      '--out',
      out,
      '--per-class',
      '2',
      '--size',
      '32',
      '--masks',
    ]);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { masksDir: string };
    expect(summary.masksDir).toBe(path.join(out, '.lesions'));
    expect((await readdir(summary.masksDir)).sort()).toEqual([
      'glioma_tumor',
      'meningioma_tumor',
      'pituitary_tumor',
    ]);
    expect(await readdir(path.join(summary.masksDir, 'glioma_tumor'))).toEqual([
      'phantom-00001.png',
      'phantom-00002.png',
    ]);
  });

  it('rejects a bad --per-class with an error and a hint', async () => {
    const r = await runCli(['make-phantoms', '--out', path.join(work, 'bad'), '--per-class', 'many']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--per-class must be a positive integer[\s\S]*hint:/);
  });
});
