import { Redis } from 'ioredis';
import pg from 'pg';
import { BraintuneError, connectionErrorReason as reason, redactUrl } from '@braintune/protocol';

/**
 * Fast, bounded answers to "is Redis / Postgres there?". ioredis and BullMQ retry forever by
 * default (a command waits for the connection), which turns a wrong URL into a silent hang;
 * every command that needs a service asks these first and fails with one clear line instead.
 */

/** Resolves with null when Redis answers PING within `timeoutMs`, else with why not. */
export async function probeRedis(url: string, timeoutMs = 3000): Promise<string | null> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: unknown = null;
  redis.on('error', (err) => (lastError = err));
  const timer = new Promise<string>((resolve) =>
    setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs + 500).unref(),
  );
  const attempt = (async (): Promise<string | null> => {
    try {
      await redis.connect();
      await redis.ping();
      return null;
    } catch (err) {
      return reason(lastError ?? err);
    }
  })();
  try {
    return await Promise.race([attempt, timer]);
  } finally {
    redis.disconnect();
  }
}

/**
 * Resolves with null when a Postgres server answers at `url` within `timeoutMs` (a missing
 * database still counts as an answer: migrations create it), else with why not.
 */
export async function probePostgres(url: string, timeoutMs = 3000): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return null;
  } catch (err) {
    if ((err as { code?: string }).code === '3D000') return null;
    return reason(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const REDIS_INSTALL_HINT =
  'start Redis (`redis-server`; install it with `apt-get install redis-server` or `brew install redis`) or set REDIS_URL';
export const POSTGRES_HINT =
  'start Postgres, or set DATABASE_URL (unset, `braintune up` starts an embedded Postgres)';

export async function requireRedis(url: string, hint = REDIS_INSTALL_HINT): Promise<void> {
  const why = await probeRedis(url);
  if (why !== null)
    throw new BraintuneError(`cannot reach Redis at ${redactUrl(url)} (${why})`, 'unavailable', hint);
}

export async function requirePostgres(url: string, hint = POSTGRES_HINT): Promise<void> {
  const why = await probePostgres(url);
  if (why !== null)
    throw new BraintuneError(`cannot reach Postgres at ${redactUrl(url)} (${why})`, 'unavailable', hint);
}
