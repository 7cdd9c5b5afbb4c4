import { Redis } from 'ioredis';
import { logConnectionState, type Logger } from '@braintune/protocol';

/**
 * A Redis connection for BullMQ. The URL's path selects the database index
 * (`redis://host:6379/3`), which ioredis honours. BullMQ workers need
 * `maxRetriesPerRequest: null` so a Redis restart blocks instead of failing commands.
 */
export function createRedis(url: string, log?: Logger): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
  // Reconnects are automatic; an 'error' without a listener would crash the process.
  redis.on('error', () => undefined);
  if (log) logConnectionState(redis, 'Redis', url, log);
  return redis;
}

/** Deletes every key under `<prefix>:` (a queue prefix's jobs, results and worker heartbeats). */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
