import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { gt, sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { epochMetrics, trials, workers, type Db } from '@braintune/coordinator';
import { WORKER_TTL_MS, resultsBacklog, type Logger } from '@braintune/protocol';

/**
 * Prometheus metrics of the cluster, computed from Postgres (the truth) and the trial
 * queue at scrape time. The epoch-duration histogram observes each recorded epoch once:
 * every scrape adds the epochs recorded since the previous one.
 */
export function createMetricsRegistry(deps: {
  db: Db;
  trialQueue: Queue | null;
  /** The results streams' Redis and key prefix, when the dashboard has Redis. */
  results: { redis: Redis; prefix: string } | null;
  logger: Logger;
}): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'braintune_dashboard_' });
  const { db, trialQueue, results } = deps;

  new Gauge({
    name: 'braintune_trials',
    help: 'Trials by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db
        .select({ status: trials.status, n: sql<number>`count(*)::int` })
        .from(trials)
        .groupBy(trials.status);
      for (const status of ['running', 'paused', 'completed', 'stopped', 'failed', 'cancelled']) {
        this.set({ status }, rows.find((r) => r.status === status)?.n ?? 0);
      }
    },
  });

  new Gauge({
    name: 'braintune_queue_jobs',
    help: 'Trial-rung jobs in the BullMQ trial queue by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      if (!trialQueue) return;
      this.reset();
      const counts = await trialQueue.getJobCounts(
        'waiting',
        'prioritized',
        'active',
        'delayed',
        'failed',
        'completed',
      );
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });

  new Gauge({
    name: 'braintune_queue_depth',
    help: 'Trial-rung jobs waiting for a worker (waiting + prioritized + delayed)',
    registers: [registry],
    async collect() {
      if (!trialQueue) return;
      const c = await trialQueue.getJobCounts('waiting', 'prioritized', 'delayed');
      this.set((c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0));
    },
  });

  new Gauge({
    name: 'braintune_results_backlog',
    help: 'Worker events on the results streams the coordinator has not recorded yet, by lane (dead: given up on)',
    labelNames: ['lane'],
    registers: [registry],
    async collect() {
      if (!results) return;
      const backlog = await resultsBacklog(results.redis, results.prefix);
      for (const [lane, n] of Object.entries(backlog)) this.set({ lane }, n);
    },
  });

  const workerRows = async () => db.select().from(workers);
  new Gauge({
    name: 'braintune_workers_online',
    help: `Workers whose last heartbeat is at most ${WORKER_TTL_MS / 1000}s old`,
    registers: [registry],
    async collect() {
      const now = Date.now();
      this.set((await workerRows()).filter((w) => now - w.lastHeartbeat.getTime() <= WORKER_TTL_MS).length);
    },
  });

  new Gauge({
    name: 'braintune_training_images_per_second',
    help: 'Training throughput of each online worker (last finished epoch)',
    labelNames: ['worker', 'backend'],
    registers: [registry],
    async collect() {
      this.reset();
      const now = Date.now();
      for (const w of await workerRows()) {
        if (now - w.lastHeartbeat.getTime() <= WORKER_TTL_MS && w.imagesPerSecond !== null)
          this.set({ worker: w.id, backend: w.backend }, w.imagesPerSecond);
      }
    },
  });

  let lastEpochId = 0;
  const epochSeconds = new Histogram({
    name: 'braintune_epoch_duration_seconds',
    help: 'Wall time of one training epoch (train + validation)',
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200],
    registers: [registry],
    async collect() {
      const rows = await db
        .select({ id: epochMetrics.id, durationMs: epochMetrics.durationMs })
        .from(epochMetrics)
        .where(gt(epochMetrics.id, lastEpochId))
        .orderBy(epochMetrics.id)
        .limit(100_000);
      for (const r of rows) {
        epochSeconds.observe(r.durationMs / 1000);
        lastEpochId = r.id;
      }
    },
  });

  return registry;
}
