import { eq, inArray } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Logger, WorkerEvent } from '@braintune/protocol';
import { studies, trialRungs } from '../db/schema.js';
import type { TrialQueue } from '../queue/trial-queue.js';
import { inspectStudy } from '../reconcile/reconcile.js';
import { flagCancelled } from './cancellation.js';
import type { CoordinatorStats } from './events.js';
import type { StudyRuntime } from './study-runtime.js';

export interface ReconciliationDeps {
  runtime: StudyRuntime;
  trialQueue: TrialQueue;
  redis: Redis;
  prefix: string;
  log: Logger;
  stats: CoordinatorStats;
  /** Records events recovered from Redis exactly like events from the results queue. */
  record(events: WorkerEvent[]): Promise<void>;
}

/**
 * Makes Redis agree with Postgres (the truth) for every study with rungs in flight: rungs
 * whose job Redis lost are queued again, and outcomes that finished in Redis but never
 * reached Postgres (a crash between the two) are recorded from the jobs' return values.
 */
export class Reconciliation {
  private running = false;

  constructor(private readonly deps: ReconciliationDeps) {}

  async reconcileAll(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const open = await this.deps.runtime.db
        .selectDistinct({ id: trialRungs.studyId, state: studies.state })
        .from(trialRungs)
        .innerJoin(studies, eq(studies.id, trialRungs.studyId))
        .where(inArray(trialRungs.status, ['queued', 'running']));
      for (const s of open) {
        if (s.state === 'cancelled') await flagCancelled(this.deps.redis, this.deps.prefix, s.id);
        await this.reconcileStudy(s.id, s.state === 'running');
      }
    } finally {
      this.running = false;
    }
  }

  private async reconcileStudy(studyId: string, requeue: boolean): Promise<void> {
    const { runtime, trialQueue, stats } = this.deps;
    // Inspect and re-enqueue under the study lock so no concurrent enqueue races the check.
    const report = await runtime.withStudy(studyId, async () => {
      const r = await inspectStudy(runtime.db, trialQueue, studyId);
      if (requeue) {
        for (const m of r.missing) {
          if (!m.data) continue;
          await trialQueue.enqueue(m.data);
          stats.requeued++;
        }
      }
      return r;
    });
    if (report.missing.length + report.finished.length + report.failed.length > 0) {
      this.deps.log.warn(
        {
          studyId,
          requeued: requeue ? report.missing.map((m) => m.jobId) : [],
          finished: report.finished.length,
          failed: report.failed.length,
        },
        'reconciled Postgres against Redis',
      );
    }
    const at = Date.now();
    const recovered: WorkerEvent[] = [
      ...report.finished.map((f): WorkerEvent => ({
        kind: 'result',
        studyId,
        trialId: f.rung.trialId,
        rung: f.rung.rung,
        jobId: f.rung.jobId,
        workerId: f.result.workerId,
        at,
        result: f.result,
      })),
      ...report.failed.map((f): WorkerEvent => ({
        kind: 'failed',
        studyId,
        trialId: f.rung.trialId,
        rung: f.rung.rung,
        jobId: f.rung.jobId,
        workerId: f.workerId ?? 'unknown',
        at,
        error: f.reason,
      })),
    ];
    stats.recovered += report.finished.length;
    if (recovered.length > 0) await this.deps.record(recovered);
  }
}
