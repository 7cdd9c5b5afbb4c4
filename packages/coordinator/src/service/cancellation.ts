import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { redisKeys } from '@braintune/protocol';
import type { Tx } from '../db/client.js';
import { trialRungs, trials } from '../db/schema.js';
import type { TrialQueue } from '../queue/trial-queue.js';
import { EVENTS_CHANNEL } from './events.js';
import { touch, type CachedStudy } from './state-cache.js';
import type { StudyRuntime } from './study-runtime.js';

/** How long the "cancelled" flag of a study stays in Redis for its running rungs to see. */
const CANCEL_FLAG_SECONDS = 7 * 24 * 3600;

/** Flags a cancelled study in Redis: its running rungs stop after their current epoch. */
export async function flagCancelled(redis: Redis, prefix: string, studyId: string): Promise<void> {
  await redis.set(redisKeys.cancelled(prefix, studyId), '1', 'EX', CANCEL_FLAG_SECONDS);
}

/**
 * For a cancelled study: flags it in Redis (running rungs stop after their epoch), removes
 * waiting jobs and closes their rungs. Rungs whose job is already running stay open until
 * the worker reports.
 */
export async function cancelQueuedWork(
  deps: { runtime: StudyRuntime; trialQueue: TrialQueue; redis: Redis; prefix: string },
  studyId: string,
): Promise<void> {
  const { runtime, trialQueue } = deps;
  await flagCancelled(deps.redis, deps.prefix, studyId);
  await runtime.withStudy(studyId, async () => {
    const { db } = runtime;
    const open = await db
      .select({ jobId: trialRungs.jobId, status: trialRungs.status })
      .from(trialRungs)
      .where(and(eq(trialRungs.studyId, studyId), inArray(trialRungs.status, ['queued', 'running'])));
    const removed: string[] = [];
    for (const r of open) {
      // A running rung reports its own end, unless Redis lost its job (then nobody will).
      if (
        r.status === 'queued'
          ? await trialQueue.removeIfIdle(r.jobId)
          : (await trialQueue.state(r.jobId)) === 'unknown'
      ) {
        removed.push(r.jobId);
      }
    }
    await runtime.transaction([studyId], async (tx) => {
      if (removed.length > 0) {
        await tx
          .update(trialRungs)
          .set({ status: 'cancelled', finishedAt: new Date() })
          .where(and(inArray(trialRungs.jobId, removed), inArray(trialRungs.status, ['queued', 'running'])));
      }
      const cached = await runtime.cache.get(tx, studyId);
      const gone = new Set(removed);
      for (const t of cached.trials) {
        for (const r of t.rungs) {
          if ((r.status === 'queued' || r.status === 'running') && gone.has(`${t.id}:${r.rung}`)) {
            r.status = 'cancelled';
            touch(cached, t.id);
          }
        }
      }
      for (const id of removed) cached.inflight.delete(id);
      await closeCancelledTrials(tx, cached);
      await tx.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${studyId})`);
    });
    runtime.forget(studyId);
  });
}

/** Trials of a cancelled study with nothing in flight are cancelled (finished ones keep their status). */
export async function closeCancelledTrials(tx: Tx, cached: CachedStudy): Promise<void> {
  const idle = cached.trials.filter(
    (t) =>
      (t.status === 'running' || t.status === 'paused') &&
      !t.rungs.some((r) => r.status === 'queued' || r.status === 'running'),
  );
  if (idle.length === 0) return;
  await tx
    .update(trials)
    .set({ status: 'cancelled', updatedAt: new Date() })
    .where(
      inArray(
        trials.id,
        idle.map((t) => t.id),
      ),
    );
  for (const t of idle) {
    t.status = 'cancelled';
    touch(cached, t.id);
  }
}
