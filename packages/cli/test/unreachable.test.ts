import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * A command that needs a service that does not answer must say so and exit, not hang in a
 * client that retries forever. The bound (10 s, start-up included) is the behaviour promised
 * to users, not a benchmark.
 */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = path.join(REPO, 'packages/cli/src/main.ts');

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const started = Date.now();
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('exit', (c) => {
      clearTimeout(kill);
      resolve(c);
    });
  });
  return { code, stderr, seconds: (Date.now() - started) / 1000 };
}

describe('unreachable services', () => {
  // Loading node, tsx and the CLI is not the wait the user is promised about; on a loaded
  // machine it alone can take seconds, so the bound is 10 s on top of `braintune --help`.
  let startup = 0;
  it('measures start-up', async () => {
    startup = (await run(['--help'], {})).seconds;
  });

  it('up: Redis unreachable → one clear error and exit ≠ 0 within 10 s', { timeout: 200_000 }, async () => {
    const port = await closedPort();
    const r = await run(['up', '--workers', '0', '--port', '0'], {
      REDIS_URL: `redis://:s3cret@127.0.0.1:${port}`,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/braintune_unreachable_test',
    });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`error: cannot reach Redis at redis://:***@127.0.0.1:${port}`);
    expect(r.stderr).toContain('apt-get install redis-server');
    expect(r.stderr).not.toContain('s3cret');
    expect(r.seconds).toBeLessThan(10 + startup);
  });

  it('worker and migrate: the service each needs, named with its fix', { timeout: 200_000 }, async () => {
    const port = await closedPort();
    const worker = await run(['worker'], { REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(worker.code).not.toBe(0);
    expect(worker.stderr).toContain(`cannot reach Redis at redis://127.0.0.1:${port}`);
    expect(worker.seconds).toBeLessThan(10 + startup);
    const migrate = await run(['migrate'], { DATABASE_URL: `postgres://u:pw@127.0.0.1:${port}/x` });
    expect(migrate.code).not.toBe(0);
    expect(migrate.stderr).toContain(`cannot reach Postgres at postgres://u:***@127.0.0.1:${port}/x`);
    expect(migrate.stderr).toContain('hint: start Postgres, or set DATABASE_URL');
    expect(migrate.seconds).toBeLessThan(10 + startup);
  });
});
