/**
 * Private Postgres and Redis servers for tests that stop, kill or restart a service: the shared
 * servers on 5432/6379 serve every other test running at the same time and must never be
 * touched. Each instance lives in its own temp directory on a free port and is removed by
 * `destroy()`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root}`);
  return path.join(root, versions[0]!, 'bin');
}

export interface PrivatePostgres {
  port: number;
  /** Admin URL (database `postgres`, trust auth). */
  adminUrl: string;
  /** `pg_ctl stop -m immediate` (a crash: no checkpoint) then start again on the same port and data. */
  restart(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): Promise<void>;
  destroy(): void;
}

/**
 * initdb + pg_ctl in a temp directory. As root the server runs as the `postgres` user (which
 * owns the directory); trust authentication on 127.0.0.1 only.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(path.join(tmpdir(), 'braintune-pg-'));
  const data = path.join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const run = (cmd: string, args: string[]): void => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
    execFileSync(file, argv, { stdio: 'ignore' });
  };
  const port = await freePort();
  run(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const ready = () =>
    until('private Postgres', async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      c.on('error', () => undefined);
      await c.connect();
      await c.end();
      return true;
    });
  const handle: PrivatePostgres = {
    port,
    adminUrl,
    async start() {
      run(path.join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
      await ready();
    },
    stop(mode = 'fast') {
      run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop']);
    },
    async restart() {
      handle.stop('immediate');
      await handle.start();
    },
    destroy() {
      try {
        handle.stop('immediate');
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** SHUTDOWN NOSAVE, then a fresh empty server on the same port: every key is lost. */
  restartEmpty(): Promise<void>;
  destroy(): Promise<void>;
}

/** `redis-server` without persistence on a free port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await until('private Redis', async () => {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    });
  };
  const shutdown = async () => {
    const r = new Redis(url, { maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    await r.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
    r.disconnect();
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) await new Promise((res) => c.once('exit', res));
  };
  await start();
  return {
    port,
    url,
    async restartEmpty() {
      await shutdown();
      await start();
    },
    async destroy() {
      await shutdown();
    },
  };
}
