import { inArray, sql } from 'drizzle-orm';
import { groupBy, type Logger, type WorkerEvent } from '@braintune/protocol';
import type { Tx } from '../db/client.js';
import { studies } from '../db/schema.js';
import { closeCancelledTrials } from './cancellation.js';
import type { DecisionLoop, PendingDecisions, StudyRow } from './decision-loop.js';
import { EVENTS_CHANNEL, type CoordinatorStats } from './events.js';
import { FencedError } from './leadership.js';
import {
  cacheClosing,
  cacheProgress,
  recordEpochs,
  recordFailures,
  recordResults,
  recordStarted,
  type ClosingEvent,
} from './recorder.js';
import type { CachedStudy } from './state-cache.js';
import type { StudyRuntime } from './study-runtime.js';

export interface ResultsIntakeDeps {
  runtime: StudyRuntime;
  decisions: DecisionLoop;
  log: Logger;
  stats: CoordinatorStats;
  /** Most events recorded in one transaction. */
  batchSize: number;
  /** Called after a commit with the checkpoints its results superseded (see CheckpointJanitor). */
  superseded?: (checkpointKeys: string[]) => void;
}

type Of<K extends WorkerEvent['kind']> = Extract<WorkerEvent, { kind: K }>;

/** A batch's events, one per key (the first closing event of a rung wins, as it would in sequence). */
interface SortedEvents {
  /** 'started' events of rungs without a result in the batch. */
  started: Of<'started'>[];
  /** 'started' events of rungs whose result is in the batch: recorded with it (recordResults). */
  startedWithResult: Map<string, Of<'started'>>;
  epoch: Of<'epoch'>[];
  failed: Of<'failed'>[];
  result: Of<'result'>[];
  /** Events that repeat another one of the batch. */
  repeated: number;
}

function sortEvents(events: readonly WorkerEvent[]): SortedEvents {
  const started = new Map<string, Of<'started'>>();
  const epoch = new Map<string, Of<'epoch'>>();
  const closing = new Map<string, ClosingEvent>();
  let repeated = 0;
  for (const e of events) {
    if (e.kind === 'started') {
      const seen = started.get(e.jobId);
      if (seen) repeated++;
      // A retry's 'started' carries the higher attempt.
      if (!seen || e.attempt > seen.attempt) started.set(e.jobId, e);
    } else if (e.kind === 'epoch') {
      const key = `${e.trialId}/${e.metrics.epoch}`;
      if (epoch.has(key)) repeated++;
      else epoch.set(key, e);
    } else if (closing.has(e.jobId)) repeated++;
    else closing.set(e.jobId, e);
  }
  const closings = [...closing.values()];
  const startedWithResult = new Map<string, Of<'started'>>();
  for (const [jobId, e] of started)
    if (closing.get(jobId)?.kind === 'result') {
      startedWithResult.set(jobId, e);
      started.delete(jobId);
    }
  return {
    started: [...started.values()],
    startedWithResult,
    epoch: [...epoch.values()],
    failed: closings.filter((e): e is Of<'failed'> => e.kind === 'failed'),
    result: closings.filter((e): e is Of<'result'> => e.kind === 'result'),
    repeated,
  };
}

interface KnownStudy {
  study: StudyRow;
  cached: CachedStudy;
}

interface Waiting {
  event: WorkerEvent;
  settle(err?: unknown): void;
}

/**
 * Records worker events with group commit: events that arrive while a transaction commits
 * wait and are recorded together in the next one (at most `batchSize`), then each affected
 * study's scheduler decides once, in that same transaction. Recording is idempotent, so an
 * event delivered again (ResultsConsumer after a crash, reconciliation) changes nothing twice.
 */
export class ResultsIntake {
  private readonly waiting: Waiting[] = [];
  private draining = false;

  constructor(private readonly deps: ResultsIntakeDeps) {}

  /** Records events (from the results streams or recovered by reconciliation); resolves once committed. */
  record(events: readonly WorkerEvent[]): Promise<void> {
    const done = events.map(
      (event) =>
        new Promise<void>((resolve, reject) =>
          this.waiting.push({ event, settle: (err) => (err === undefined ? resolve() : reject(err)) }),
        ),
    );
    this.drain();
    return Promise.all(done).then(() => undefined);
  }

  /** One batch at a time; whatever arrived meanwhile forms the next. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void (async () => {
      // Let the jobs fetched in the same turn of the event loop join the first batch.
      await new Promise((r) => setImmediate(r));
      while (this.waiting.length > 0) await this.commit(this.waiting.splice(0, this.deps.batchSize));
    })().finally(() => {
      this.draining = false;
      if (this.waiting.length > 0) this.drain();
    });
  }

  private async commit(batch: Waiting[]): Promise<void> {
    try {
      await this.recordBatch(batch.map((w) => w.event));
      for (const w of batch) w.settle();
    } catch (err) {
      if (batch.length === 1 || err instanceof FencedError) {
        for (const w of batch) w.settle(err);
        return;
      }
      // One event that cannot be recorded must not hold back its batch-mates on every retry.
      this.deps.log.warn(
        { err, events: batch.length },
        'recording a batch failed; recording its events one by one',
      );
      for (const w of batch) {
        try {
          await this.recordBatch([w.event]);
          w.settle();
        } catch (one) {
          w.settle(one);
        }
      }
    }
  }

  private async recordBatch(events: readonly WorkerEvent[]): Promise<void> {
    const { runtime, stats } = this.deps;
    const studyIds = [...new Set(events.map((e) => e.studyId))];
    await runtime.withStudies(studyIds, async () => {
      const outcome = await runtime.transaction(
        studyIds,
        (tx) => this.recordInTransaction(tx, studyIds, events),
        { lock: false, fence: 'first-query' },
      );
      // Counted after the commit, so a rolled-back attempt is not counted twice.
      for (const kind of ['started', 'epoch', 'result', 'failed'] as const)
        stats.recorded[kind] += outcome.recorded[kind];
      stats.duplicates += events.length - outcome.changed;
      stats.batches++;
      stats.batchedEvents += events.length;
      if (outcome.superseded.length > 0) this.deps.superseded?.(outcome.superseded);
      this.deps.decisions.publishSoon(outcome.pending);
    });
  }

  private async recordInTransaction(tx: Tx, studyIds: string[], events: readonly WorkerEvent[]) {
    const known = await this.lockStudies(tx, studyIds);
    const of = (studyId: string) => known.get(studyId)!;
    const sorted = sortEvents(events.filter((e) => known.has(e.studyId)));
    const { progressed, closed, results } = await this.recordEvents(tx, sorted, of);

    // Decide once per study whose rungs closed, on the state after the whole batch.
    const pending: PendingDecisions[] = [];
    for (const [studyId, news] of groupBy(closed, (e) => e.studyId)) {
      const { study, cached } = of(studyId);
      if (study.state === 'running' && study.datasets) {
        const def = this.deps.runtime.definition(studyId, study.source);
        const applied = await this.deps.decisions.decide(tx, study, def, cached);
        const eventAt = Math.min(...news.map((e) => e.at));
        const outcomeAt = new Map(news.map((e) => [e.trialId, e.at]));
        pending.push({
          studyId,
          applied,
          kind: news.some((e) => e.kind === 'result') ? 'result' : 'failed',
          eventAt,
          promotedFrom: applied.promotedTrialIds.map((id) => outcomeAt.get(id) ?? eventAt),
        });
      } else if (study.state === 'cancelled') {
        await closeCancelledTrials(tx, cached);
      }
    }
    const count = (kind: WorkerEvent['kind']) =>
      (kind === 'started' || kind === 'epoch' ? progressed : closed).filter((e) => e.kind === kind).length;
    return {
      recorded: {
        started: count('started'),
        epoch: count('epoch'),
        result: count('result'),
        failed: count('failed'),
      },
      changed: progressed.length + closed.length,
      pending,
      superseded: [...results.values()].flatMap((r) => r.superseded),
    };
  }

  /**
   * The batch's studies, locked and with their cached state. One round trip: the leadership
   * fence, the studies' locks, their notifications (delivered at commit, dropped on rollback)
   * and their rows. Events of a study that does not exist (deleted) are not recorded.
   */
  private async lockStudies(tx: Tx, studyIds: string[]): Promise<Map<string, KnownStudy>> {
    const { runtime } = this.deps;
    const rows = await tx
      .select({
        study: studies,
        locked: sql<string>`pg_advisory_xact_lock(hashtext(${studies.id}))::text`,
        notified: sql<string>`pg_notify(${EVENTS_CHANNEL}, ${studies.id})::text`,
        leading: sql<boolean>`${runtime.fenceCondition()}`,
      })
      .from(studies)
      .where(inArray(studies.id, studyIds));
    if (rows.length > 0) runtime.confirmFence(rows.every((r) => r.leading));
    else await runtime.fence(tx);
    const known = new Map<string, KnownStudy>();
    for (const { study } of rows)
      known.set(study.id, { study, cached: await runtime.cache.get(tx, study.id) });
    return known;
  }

  /** Records the batch's events and mirrors what changed into the cached studies. */
  private async recordEvents(tx: Tx, sorted: SortedEvents, of: (studyId: string) => KnownStudy) {
    const started = await recordStarted(tx, sorted.started);
    const epochs = await recordEpochs(tx, sorted.epoch);
    const progressed = [
      ...sorted.started.filter((e) => started.has(e.jobId)),
      ...sorted.epoch.filter((e) => epochs.has(`${e.trialId}/${e.metrics.epoch}`)),
    ];
    for (const e of progressed) cacheProgress(of(e.studyId).cached, e);

    const failed = await recordFailures(tx, sorted.failed);
    const results = await recordResults(
      tx,
      sorted.result,
      (id) => this.deps.runtime.definition(id, of(id).study.source),
      sorted.startedWithResult,
    );
    // A folded 'started' counts as recorded when its result found the rung open, as it would alone.
    progressed.push(...[...sorted.startedWithResult.values()].filter((e) => results.has(e.jobId)));
    const closed: ClosingEvent[] = [
      ...sorted.failed.filter((e) => failed.has(e.jobId)),
      ...sorted.result.filter((e) => results.has(e.jobId)),
    ];
    for (const e of closed) cacheClosing(of(e.studyId).cached, e, results.get(e.jobId) ?? null);
    return { progressed, closed, results };
  }
}
