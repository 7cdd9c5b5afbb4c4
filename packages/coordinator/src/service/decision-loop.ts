import { eq, sql } from 'drizzle-orm';
import type { Logger, TrialJobData } from '@braintune/protocol';
import type { Tx } from '../db/client.js';
import { studies } from '../db/schema.js';
import type { TrialQueue } from '../queue/trial-queue.js';
import { applyDecisions, noDecisions, type AppliedDecisions, type StudyContext } from './decisions.js';
import { describeEndReason } from './end-reason.js';
import { EVENTS_CHANNEL, type AppliedEvent, type CoordinatorStats } from './events.js';
import type { CachedStudy } from './state-cache.js';
import { toStudyState } from './state-cache.js';
import type { StudyDefinition } from './study-definition.js';
import type { StudyRuntime } from './study-runtime.js';
import { loadWarmStart, warmStartIds } from './warm-start.js';

export type StudyRow = typeof studies.$inferSelect;

export interface DecisionLoopDeps {
  runtime: StudyRuntime;
  trialQueue: TrialQueue;
  log: Logger;
  stats: CoordinatorStats;
  /** Rungs queued beyond the online workers' capacity. */
  prefetch: number;
  /** Rung slots of the workers online now. */
  capacity(): number;
  onApplied(event: AppliedEvent): void;
}

/** Decisions of one study, committed and waiting to be queued. */
export interface PendingDecisions {
  studyId: string;
  applied: AppliedDecisions;
  kind: AppliedEvent['kind'];
  eventAt: number | null;
  /** Per promoted trial, when the outcome that led to its promotion was produced (see AppliedEvent). */
  promotedFrom: number[];
}

/**
 * Asks a study's scheduler what to do next and writes the answer in the caller's
 * transaction; after the commit, `publish` queues the resulting rungs (idempotent job ids).
 * Called once per study per results batch, and by the periodic tick for idle capacity.
 */
export class DecisionLoop {
  private publishing: Promise<void> = Promise.resolve();
  /** When each study's scheduler last decided (results batches and ticks alike). */
  private readonly decidedAt = new Map<string, number>();

  constructor(private readonly deps: DecisionLoopDeps) {}

  async decide(
    tx: Tx,
    study: StudyRow,
    def: StudyDefinition,
    cached: CachedStudy,
  ): Promise<AppliedDecisions> {
    const { runtime } = this.deps;
    this.decidedAt.set(study.id, performance.now());
    const warmIds = runtime.hasScheduler(study.id) ? [] : warmStartIds(def.config);
    const scheduler = runtime.scheduler(study.id, def, await loadWarmStart(tx, warmIds));
    const context: StudyContext = { id: study.id, seed: def.seed, datasets: study.datasets ?? [] };
    const total = noDecisions();
    const elapsed = study.startedAt ? (Date.now() - study.startedAt.getTime()) / 60_000 : 0;
    // Applying decisions changes the state, which can unlock more (e.g. a stop frees a
    // slot); a few rounds reach the fixed point without risking a loop.
    for (let round = 0; round < 5 && !total.completed; round++) {
      const decisions = scheduler.decide(toStudyState(cached, elapsed), this.idleSlots(cached));
      if (decisions.length === 0) break;
      const applied = await applyDecisions(tx, context, cached, decisions);
      total.jobs.push(...applied.jobs);
      total.created += applied.created;
      total.promotedTrialIds.push(...applied.promotedTrialIds);
      total.stopped += applied.stopped;
      total.completed ||= applied.completed;
      if (applied.completed) {
        const endReason = describeEndReason(applied.completionReason, def, scheduler);
        if (endReason !== null) {
          await tx.update(studies).set({ endReason }).where(eq(studies.id, study.id));
          this.deps.log.info({ studyId: study.id }, `study ends early: ${endReason}`);
        }
      }
      if (applied.created + applied.promotedTrialIds.length + applied.stopped === 0) break;
    }
    runtime.setInflight(study.id, cached.inflight.size);
    if (total.completed) {
      this.deps.log.info({ studyId: study.id, trials: cached.trials.length }, 'study completed');
      runtime.forget(study.id);
      this.decidedAt.delete(study.id);
    }
    return total;
  }

  /** Free capacity across all running studies: online worker slots plus prefetch, minus rungs in flight. */
  private idleSlots(cached: CachedStudy): number {
    const inflight = cached.inflight.size + this.deps.runtime.inflightElsewhere(cached.studyId);
    return Math.max(0, this.deps.capacity() + this.deps.prefetch - inflight);
  }

  /**
   * Whether the study's scheduler decided within the last `ms`: a busy study decides after
   * every results batch, so the periodic tick has nothing to add and would only hold its lock.
   */
  decidedWithin(studyId: string, ms: number): boolean {
    const at = this.decidedAt.get(studyId);
    return at !== undefined && performance.now() - at < ms;
  }

  /** Offers a running study the idle capacity (a tick, or right after preparation). */
  async tickStudy(studyId: string): Promise<void> {
    const { runtime } = this.deps;
    await runtime.withStudy(studyId, async () => {
      const applied = await runtime.transaction([studyId], async (tx) => {
        const [study] = await tx.select().from(studies).where(eq(studies.id, studyId));
        if (!study || study.state !== 'running' || !study.datasets) return null;
        const def = runtime.definition(study.id, study.source);
        const cached = await runtime.cache.get(tx, study.id);
        const result = await this.decide(tx, study, def, cached);
        if (result.jobs.length > 0 || result.stopped > 0 || result.completed) {
          await tx.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${study.id})`);
        }
        return result;
      });
      if (applied) await this.publish([{ studyId, applied, kind: 'tick', eventAt: null, promotedFrom: [] }]);
    });
  }

  /**
   * Queues committed decisions without holding up the caller: the results path commits its
   * next batch while this one's rungs go to Redis. In order, one after another; a failure is
   * logged and repaired by reconciliation, which queues every queued rung Redis lacks.
   */
  publishSoon(pending: readonly PendingDecisions[]): void {
    if (pending.length === 0) return;
    this.publishing = this.publishing
      .then(() => this.publish(pending))
      .catch((err: unknown) =>
        this.deps.log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'queueing decided rungs failed; reconciliation will queue them',
        ),
      );
  }

  /** Resolves once everything handed to publishSoon is queued (or has failed). */
  settled(): Promise<void> {
    return this.publishing;
  }

  /** Queues the committed decisions' rungs in one round trip, then counts and announces them. */
  async publish(pending: readonly PendingDecisions[]): Promise<void> {
    const jobs: TrialJobData[] = pending.flatMap((p) => p.applied.jobs);
    await this.deps.trialQueue.enqueueMany(jobs);
    const queuedAt = Date.now();
    for (const { studyId, applied, kind, eventAt, promotedFrom } of pending) {
      const promoted = applied.promotedTrialIds.length;
      const decisions = applied.created + promoted + applied.stopped + (applied.completed ? 1 : 0);
      this.deps.stats.decisions += decisions;
      if (decisions > 0) {
        this.deps.onApplied({
          studyId,
          kind,
          eventAt,
          promotedFrom,
          queuedAt,
          decisions,
          promoted,
          created: applied.created,
        });
      }
    }
  }
}
