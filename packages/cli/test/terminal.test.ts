import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tinyDemoStudy } from './tiny-demo.js';
import { createRedis, deleteKeysWithPrefix, probePostgres } from '@braintune/coordinator';

/**
 * `braintune up --demo` in a real terminal (tmux), as a new user on a laptop without Postgres:
 * DATABASE_URL is unset and nothing answers on the default address (pointed at a closed port,
 * so the shared server is never touched), so `up` starts an embedded PostgreSQL; the screen
 * shows readable lines and a status block redrawn in place, never a JSON line, and the study
 * completes. (The same run without a terminal is packages/cli/src/demo/demo.test.ts.)
 */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = path.join(REPO, 'packages/cli/src/main.ts');
const TMUX = ['-L', `braintune-test-${process.pid}`];
const session = 'demo';
const prefix = `test-tty-${process.pid}`;

const TINY_STUDY = tinyDemoStudy('tty-demo');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const tmux = (...args: string[]): string => execFileSync('tmux', [...TMUX, ...args], { encoding: 'utf8' });
const screen = (): string => tmux('capture-pane', '-p', '-t', session);
const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

let work = '';
afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  const redis = createRedis('redis://127.0.0.1:6379');
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('braintune up --demo in a terminal, without Postgres', () => {
  it(
    'starts an embedded Postgres, redraws a live status, shows no JSON and completes',
    { timeout: 240_000 },
    async () => {
      work = await mkdtemp(path.join(tmpdir(), 'braintune-tty-'));
      // As root the embedded server runs as the postgres user, which must reach its data directory.
      await chmod(work, 0o755);
      const config = path.join(work, 'tiny.yaml');
      await writeFile(config, TINY_STUDY);
      const [closed, pgPort, httpPort] = [await freePort(), await freePort(), await freePort()];
      const env: Record<string, string> = {
        BRAINTUNE_DEFAULT_DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/braintune`,
        BRAINTUNE_EMBEDDED_PG_PORT: String(pgPort),
        REDIS_URL: 'redis://127.0.0.1:6379',
        BRAINTUNE_QUEUE_PREFIX: prefix,
        ARTIFACT_ROOT: path.join(work, '.braintune', 'artifacts'),
      };
      const command = [
        'unset DATABASE_URL LOG_FORMAT LOG_LEVEL NO_COLOR;',
        ...Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)};`),
        `cd ${quote(REPO)} &&`,
        `${quote(process.execPath)} --conditions=source --import tsx ${quote(CLI)} up --demo --exit-when-done`,
        `--workers 2 --port ${httpPort} --demo-config ${quote(config)} --demo-per-class 12 --demo-size 64;`,
        'echo "EXIT=$?"; sleep 600',
      ].join(' ');
      await writeFile(path.join(work, 'run.sh'), command);
      tmux(
        'new-session',
        '-d',
        '-s',
        session,
        '-x',
        '150',
        '-y',
        '60',
        `bash ${quote(path.join(work, 'run.sh'))}`,
      );

      const boards = new Set<string>();
      let last = '';
      const deadline = Date.now() + 220_000;
      while (Date.now() < deadline) {
        last = screen();
        const lines = last.split('\n');
        // Never a JSON log line on screen.
        const json = lines.filter((l) => l.trimStart().startsWith('{'));
        expect(json, last).toEqual([]);
        // The status block is drawn once, in place: at most one header on screen at a time.
        const headers = lines.filter((l) => l.startsWith('── study '));
        expect(headers.length, last).toBeLessThanOrEqual(1);
        if (headers[0]) boards.add(headers[0]);
        if (/EXIT=\d+/.test(last)) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(last).toContain('EXIT=0');
      expect(last).toMatch(
        /postgres: DATABASE_URL is unset and no Postgres answers at .*started an embedded PostgreSQL/,
      );
      expect(last).toMatch(/demo: study st-\w+ completed after/);
      expect(last).toMatch(/trial #\d+ rung \d+ completed: epochs \d→\d, score/);
      expect(last).toMatch(/\d\d:\d\d:\d\d INFO {2}coordinator: /);
      // Redrawn: the same block showed several states (the clock and the state change in place).
      expect(boards.size, [...boards].join('\n')).toBeGreaterThan(1);
      expect(last).toMatch(/── study st-\w+ "tty-demo" · completed/);
      // `up` stopped its embedded server on the way out.
      expect(
        await probePostgres(`postgres://postgres:braintune@127.0.0.1:${pgPort}/braintune`, 1000),
      ).not.toBeNull();
    },
  );
});
