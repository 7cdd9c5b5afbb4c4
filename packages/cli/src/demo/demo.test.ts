import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyDemoStudy } from '../../test/tiny-demo.js';
import { createRedis, deleteKeysWithPrefix, dropDatabase, openDatabase } from '@braintune/coordinator';
import type { PointingScore } from '@braintune/protocol';

/**
 * `braintune up --demo --exit-when-done` end to end as a process: phantoms are generated, the
 * cluster starts, a (tiny) Hyperband study runs on 2 worker processes, and the process exits 0
 * with the result as its last stdout line. Scaled down with --demo-per-class / --demo-config.
 */
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const CLI = path.join(REPO, 'packages/cli/src/main.ts');
const suffix = `${process.pid}_${Date.now().toString(36)}`;
const databaseName = `braintune_test_demo_${suffix}`;
const databaseUrl = `postgres://postgres@127.0.0.1:5432/${databaseName}`;
const prefix = `test-demo-${suffix}`;

const TINY_STUDY = tinyDemoStudy('demo-test');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'braintune-demo-'));
});
afterAll(async () => {
  await dropDatabase(databaseUrl);
  const redis = createRedis('redis://127.0.0.1:6379');
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
  await rm(work, { recursive: true, force: true });
});

describe('braintune up --demo', () => {
  it(
    'generates phantoms, runs a Hyperband study on 2 workers and exits with the result',
    { timeout: 180_000 },
    async () => {
      const config = path.join(work, 'tiny-demo.yaml');
      await writeFile(config, TINY_STUDY);
      const port = 21_000 + Math.floor(Math.random() * 2000);
      const args = [
        '--conditions=source',
        '--import',
        'tsx',
        CLI,
        'up',
        '--demo',
        '--exit-when-done',
        '--workers',
        '2',
        '--port',
        String(port),
      ];
      args.push('--demo-config', config, '--demo-per-class', '12', '--demo-size', '64');
      const child = spawn(process.execPath, args, {
        cwd: REPO,
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          REDIS_URL: 'redis://127.0.0.1:6379',
          BRAINTUNE_QUEUE_PREFIX: prefix,
          ARTIFACT_ROOT: path.join(work, 'artifacts'),
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));

      expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
      const lines = stdout.trim().split('\n');
      const result = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
      expect(result).toMatchObject({
        state: 'completed',
        trials: { total: 5, completed: 5, failed: 0, running: 0, queued: 0 },
        rungs: { planned: 6, completed: 6 },
        epochs: 11,
      });
      expect(result.studyId).toMatch(/^st-/);
      expect(result.seconds).toBeGreaterThan(0);
      const best = result.best as {
        trialId: string;
        valAccuracy: number;
        valMacroF1: number;
        hyperparameters: { imageSize: number };
      };
      expect(best.trialId.startsWith(`${result.studyId as string}:`)).toBe(true);
      expect(best.valAccuracy).toBeGreaterThanOrEqual(0);
      expect(best.hyperparameters.imageSize).toBe(24);

      // What the user sees: both URLs, progress, the best trial, and a clean stop.
      expect(stdout).toContain(`dashboard http://localhost:${port}/`);
      expect(stdout).toContain(`/studies/${result.studyId as string}`);
      expect(stdout).toMatch(/running \| rungs \d+\/6/);
      expect(stdout).toContain(`best trial ${best.trialId}`);
      expect(stdout).toContain('braintune stopped');
      expect(stdout).toMatch(/trial #\d+ rung \d+ completed: epochs \d→\d, score/);
      // Without a terminal, every log line is JSON (machines read them), and there are some.
      const logLines = stderr.split('\n').filter((l) => l.trim() !== '');
      expect(logLines.length).toBeGreaterThan(0);
      for (const line of logLines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
      // Phantoms went next to the artifact root, one directory per spec, with their lesion masks.
      const phantoms = path.join(work, 'demo', 'phantoms', '12x64px-seed1');
      expect((await readdir(phantoms)).sort()).toEqual([
        '.lesions',
        'glioma_tumor',
        'meningioma_tumor',
        'no_tumor',
        'pituitary_tumor',
      ]);
      expect(await readdir(path.join(phantoms, 'glioma_tumor'))).toHaveLength(12);
      // The masks let every trial play the pointing game on its validation tumour scans.
      const database = openDatabase(databaseUrl);
      try {
        const { rows } = await database.pool.query<{
          pointing: PointingScore | null;
          checkpoint_key: string;
        }>('SELECT pointing, checkpoint_key FROM trials WHERE study_id = $1', [result.studyId]);
        expect(rows).toHaveLength(5);
        for (const { pointing, checkpoint_key } of rows) {
          expect(pointing?.scans).toBeGreaterThan(0);
          expect(pointing?.pointingAccuracy).toBeGreaterThanOrEqual(0);
          // Superseded rungs' checkpoints are gone: a trial keeps the one it would be promoted with.
          // (A retried rung may leave a losing attempt of the same rung beside it.)
          const committed = path.basename(checkpoint_key);
          const entries = await readdir(path.join(work, 'artifacts', path.dirname(checkpoint_key)));
          expect(entries).toContain(committed);
          const rung = /^rung-\d+-/.exec(committed)![0];
          expect(entries.filter((e) => !e.startsWith(rung))).toEqual([]);
        }
      } finally {
        await database.close();
      }
    },
  );
});
