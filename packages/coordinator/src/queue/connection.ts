import { Redis } from 'ioredis';

/**
 * A Redis connection for BullMQ. The URL's path selects the database index
 * (`redis://host:6379/3`), which ioredis honours. BullMQ workers need
 * `maxRetriesPerRequest: null` so a Redis restart blocks instead of failing commands.
 */
export function createRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
  // Reconnects are automatic; an 'error' without a listener would crash the process.
  redis.on('error', () => undefined);
  return redis;
}
