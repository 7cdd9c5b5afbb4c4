import type { Redis } from 'ioredis';
import { WORKER_TTL_MS, WorkerInfoSchema, redisKeys, type WorkerInfo } from '@braintune/protocol';

export interface LiveWorker extends WorkerInfo {
  online: boolean;
}

/**
 * Workers registered in Redis (their heartbeats). Entries whose heartbeat is older than
 * the TTL are reported offline and pruned after ten TTLs.
 */
export async function readWorkers(redis: Redis, prefix: string, now = Date.now()): Promise<LiveWorker[]> {
  const raw = await redis.hgetall(redisKeys.workers(prefix));
  const out: LiveWorker[] = [];
  const stale: string[] = [];
  for (const [id, json] of Object.entries(raw)) {
    let info: WorkerInfo;
    try {
      info = WorkerInfoSchema.parse(JSON.parse(json));
    } catch {
      stale.push(id);
      continue;
    }
    const age = now - info.lastHeartbeat;
    if (age > 10 * WORKER_TTL_MS) stale.push(id);
    else out.push({ ...info, online: age <= WORKER_TTL_MS });
  }
  if (stale.length > 0) await redis.hdel(redisKeys.workers(prefix), ...stale);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
