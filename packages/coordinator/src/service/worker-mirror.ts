import { sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { workers as workersTable } from '../db/schema.js';
import { readWorkers } from '../queue/workers-registry.js';
import type { StudyRuntime } from './study-runtime.js';

/**
 * Mirrors worker heartbeats from Redis into Postgres (for the API and dashboard) and keeps
 * the rung capacity of the workers online, which the decision loop fills.
 */
export class WorkerMirror {
  private slots = 0;

  constructor(private readonly deps: { runtime: StudyRuntime; redis: Redis; prefix: string }) {}

  /** Rung slots of the workers online at the last refresh. */
  get capacity(): number {
    return this.slots;
  }

  /** One fenced upsert of every live worker. */
  async refresh(): Promise<void> {
    const live = await readWorkers(this.deps.redis, this.deps.prefix);
    this.slots = live.filter((w) => w.online).reduce((n, w) => n + w.concurrency, 0);
    if (live.length === 0) return;
    const rows = live.map((w) => ({
      id: w.id,
      host: w.host,
      pid: w.pid,
      backend: w.backend,
      device: w.device,
      concurrency: w.concurrency,
      startedAt: new Date(w.startedAt),
      lastHeartbeat: new Date(w.lastHeartbeat),
      currentTrial: w.currentTrials[0] ?? null,
      imagesPerSecond: w.imagesPerSecond,
    }));
    const fromInsert = (column: string) => sql.raw(`excluded.${column}`);
    await this.deps.runtime.transaction(
      [],
      (tx) =>
        tx
          .insert(workersTable)
          .values(rows)
          .onConflictDoUpdate({
            target: workersTable.id,
            set: {
              host: fromInsert('host'),
              pid: fromInsert('pid'),
              backend: fromInsert('backend'),
              device: fromInsert('device'),
              concurrency: fromInsert('concurrency'),
              startedAt: fromInsert('started_at'),
              lastHeartbeat: fromInsert('last_heartbeat'),
              currentTrial: fromInsert('current_trial'),
              imagesPerSecond: fromInsert('images_per_second'),
            },
          }),
      { lock: false },
    );
  }
}
