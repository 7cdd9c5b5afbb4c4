import { EventEmitter } from 'node:events';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { openArtifactStore, type ArtifactStore } from '@braintune/artifacts';
import {
  RESULTS_QUEUE,
  WorkerEventSchema,
  createLogger,
  redisKeys,
  type DatasetRef,
  type Logger,
  type WorkerEvent,
} from '@braintune/protocol';
import { migrateDatabase, openDatabase, type Database, type Tx } from '../db/client.js';
import { studies, trialRungs, trials, workers as workersTable } from '../db/schema.js';
import { createRedis } from '../queue/connection.js';
import { TrialQueue } from '../queue/trial-queue.js';
import { readWorkers } from '../queue/workers-registry.js';
import { inspectStudy } from '../reconcile/reconcile.js';
import type { Observation } from '../scheduling/sampler.js';
import type { Scheduler } from '../scheduling/types.js';
import { applyDecisions, type AppliedDecisions, type StudyContext } from './decisions.js';
import { describeEndReason } from './end-reason.js';
import { EVENTS_CHANNEL } from './events.js';
import { Leadership } from './leadership.js';
import { cacheProgress, recordEvent, recordProgressEvent } from './recorder.js';
import { StudyStateCache, toStudyState, type CachedStudy } from './state-cache.js';
import type { StudyDefinition, StudyFactory } from './study-definition.js';
import { DatasetPreparation } from './preparation.js';
import { loadWarmStart, warmStartIds } from './warm-start.js';

export { EVENTS_CHANNEL };

export interface CoordinatorOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Key prefix of the BullMQ queues (tests isolate with their own). */
  prefix: string;
  artifactRoot: string;
  studies: StudyFactory;
  logger?: Logger;
  /** How often running studies are offered idle capacity and new/cancelled studies are noticed (ms). */
  tickMs?: number;
  /** How often Postgres is reconciled against Redis (ms). */
  reconcileMs?: number;
  /** How often worker heartbeats are mirrored into Postgres (ms). */
  workersMs?: number;
  /** Rungs queued beyond the online workers' capacity, so a worker never waits for the coordinator. */
  prefetch?: number;
  /** Results-queue jobs processed at once (events of one study are still serialised). */
  resultsConcurrency?: number;
  /** Apply migrations on start (default true). */
  migrate?: boolean;
  /** Attempts per trial rung before it is recorded as failed. */
  jobAttempts?: number;
  /** Data sets prepared at once (default 2): each reads and decodes a whole tree. */
  maxPreparations?: number;
}

/** Emitted after an event's decisions are committed and their jobs queued (for benchmarks and metrics). */
export interface AppliedEvent {
  studyId: string;
  kind: WorkerEvent['kind'] | 'tick';
  /** When the worker produced the event (ms since epoch); null for ticks. */
  eventAt: number | null;
  /** When the resulting jobs were in Redis. */
  queuedAt: number;
  decisions: number;
  promoted: number;
  created: number;
}

/**
 * The single writer of study state. It consumes worker events from the durable results
 * queue, records each in one Postgres transaction, asks the study's scheduler for
 * decisions, applies them in that same transaction, then enqueues the resulting trial
 * rungs (idempotent job ids) and notifies listeners (`pg_notify('braintune_events', id)`).
 * On start-up and every `reconcileMs` it reconciles Postgres against Redis.
 */
export class Coordinator extends EventEmitter<{ applied: [AppliedEvent] }> {
  readonly log: Logger;
  readonly database: Database;
  readonly redis: Redis;
  readonly trialQueue: TrialQueue;
  readonly store: ArtifactStore;
  private resultsWorker: Worker<WorkerEvent> | null = null;
  private readonly cache = new StudyStateCache();
  private readonly definitions = new Map<string, StudyDefinition>();
  private readonly schedulers = new Map<string, Scheduler>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly preparation: DatasetPreparation;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Counters since start (tests, benchmarks and metrics read them). */
  readonly stats = {
    /** Worker events that changed Postgres, by kind. */
    recorded: { started: 0, epoch: 0, result: 0, failed: 0 },
    /** Events that changed nothing (duplicates, or news about closed rungs). */
    duplicates: 0,
    /** Rungs re-enqueued by reconciliation because Redis had no job for them. */
    requeued: 0,
    /** Results recovered from finished jobs' return values by reconciliation. */
    recovered: 0,
    decisions: 0,
  };
  private capacity = 0;
  private stopped = false;
  private readonly leadership: Leadership;
  private ticking = false;
  private reconciling = false;

  private constructor(private readonly options: CoordinatorOptions) {
    super();
    this.log = options.logger ?? createLogger('coordinator');
    this.database = openDatabase(options.databaseUrl, { asyncCommit: true });
    this.redis = createRedis(options.redisUrl, this.log);
    this.trialQueue = new TrialQueue({
      connection: this.redis,
      prefix: options.prefix,
      attempts: options.jobAttempts ?? 3,
    });
    this.store = openArtifactStore(options.artifactRoot);
    this.leadership = new Leadership(
      options.databaseUrl,
      this.log,
      (leading) => void this.onLeadership(leading),
    );
    this.preparation = new DatasetPreparation({
      database: this.database,
      store: this.store,
      log: this.log,
      maxPreparations: options.maxPreparations ?? 2,
      definition: (studyId, source) => this.definition(studyId, source),
      onReady: (studyId) => this.tickStudy(studyId),
    });
  }

  /** Paused while another coordinator may be writing; on regaining, forget everything cached. */
  private async onLeadership(leading: boolean): Promise<void> {
    if (!this.resultsWorker) return; // still starting
    if (leading) {
      this.cache.clear();
      this.forgetAll();
      this.resultsWorker.resume();
      await this.reconcileAll().catch((err: unknown) =>
        this.log.error({ err }, 'reconcile after regaining leadership failed'),
      );
    } else {
      await this.resultsWorker.pause(true);
    }
  }

  private forgetAll(): void {
    this.schedulers.clear();
    this.definitions.clear();
    this.inflightCounts.clear();
  }

  /**
   * Migrates, waits to be the only coordinator of the database (see Leadership), reconciles
   * Postgres against Redis, then starts consuming results and the periodic loops.
   */
  static async start(options: CoordinatorOptions): Promise<Coordinator> {
    if (options.migrate ?? true) await migrateDatabase(options.databaseUrl);
    const c = new Coordinator(options);
    await c.leadership.acquire();
    await c.refreshWorkers();
    await c.reconcileAll();
    c.startResultsConsumer();
    c.every(options.tickMs ?? 1000, () => c.tick());
    c.every(options.reconcileMs ?? 10_000, () => c.reconcileAll());
    c.every(options.workersMs ?? 2000, () => c.refreshWorkers());
    c.log.info({ prefix: options.prefix, store: c.store.location }, 'coordinator started');
    return c;
  }

  get db() {
    return this.database.db;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.resultsWorker?.close();
    // Let in-flight study work finish so nothing is half-applied in memory.
    await Promise.allSettled([...this.locks.values()]);
    await this.trialQueue.close();
    this.redis.disconnect();
    await this.database.close();
    await this.leadership.release();
  }

  // ------------------------------------------------------------------ plumbing

  private every(ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(() => {
      if (this.stopped || !this.leadership.isLeader) return;
      fn().catch((err: unknown) =>
        this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'periodic task failed'),
      );
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Serialises everything that touches one study (events, ticks, reconciliation) in this process. */
  private withStudy<T>(studyId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(studyId) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(studyId, tail);
    void tail.then(() => {
      if (this.locks.get(studyId) === tail) this.locks.delete(studyId);
    });
    return next;
  }

  /**
   * One transaction per unit of work; the advisory lock also excludes a second coordinator.
   * The coordinator's pool commits without waiting for the WAL flush (synchronous_commit
   * off: ~7 ms of fsync per event on this machine). A Postgres crash can lose the last few hundred ms of commits but never corrupts:
   * the reconciler re-reads results of finished jobs from Redis, and re-deciding on the
   * older state yields the same trial and job ids (deterministic schedulers), so nothing is
   * lost or doubled.
   */
  private async transaction<T>(
    studyId: string,
    fn: (tx: Tx) => Promise<T>,
    options: { lock: boolean } = { lock: true },
  ): Promise<T> {
    try {
      return await this.db.transaction(async (tx) => {
        if (options.lock) await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${studyId}))`);
        await this.leadership.fence(tx);
        return fn(tx);
      });
    } catch (err) {
      // The cache may hold changes of the rolled-back transaction: reload from Postgres next time.
      this.cache.invalidate(studyId);
      throw err;
    }
  }

  private definition(studyId: string, source: unknown): StudyDefinition {
    let def = this.definitions.get(studyId);
    if (!def) {
      const raw = source as { yaml?: unknown };
      def = this.options.studies.parse(typeof raw.yaml === 'string' ? raw.yaml : (source as object));
      this.definitions.set(studyId, def);
    }
    return def;
  }

  private scheduler(
    studyId: string,
    def: StudyDefinition,
    warmStart: readonly Observation[] = [],
  ): Scheduler {
    let s = this.schedulers.get(studyId);
    if (!s) {
      s = def.createScheduler(warmStart);
      this.schedulers.set(studyId, s);
    }
    return s;
  }

  private startResultsConsumer(): void {
    this.resultsWorker = new Worker<WorkerEvent>(
      RESULTS_QUEUE,
      async (job: Job<WorkerEvent>) => {
        const parsed = WorkerEventSchema.safeParse(job.data);
        if (!parsed.success) {
          this.log.error({ jobId: job.id, issues: parsed.error.issues }, 'dropping malformed worker event');
          return;
        }
        await this.handleEvent(parsed.data);
      },
      {
        connection: this.redis,
        prefix: this.options.prefix,
        concurrency: this.options.resultsConcurrency ?? 16,
        // Recording takes milliseconds: events held by a coordinator that died are retried soon.
        lockDuration: 10_000,
        stalledInterval: 5_000,
        settings: { backoffStrategy: (attemptsMade: number) => Math.min(30_000, 250 * 2 ** attemptsMade) },
      },
    );
    this.resultsWorker.on('failed', (job, err) =>
      this.log.warn({ jobId: job?.id, err: err.message }, 'recording a worker event failed; will retry'),
    );
    this.resultsWorker.on('error', (err) => this.log.error({ err: err.message }, 'results consumer error'));
  }

  // ------------------------------------------------------------------ events

  /** Records one worker event and applies the scheduler's follow-up decisions. Idempotent. */
  async handleEvent(event: WorkerEvent): Promise<void> {
    if (event.kind === 'started' || event.kind === 'epoch') return this.handleProgress(event);
    await this.withStudy(event.studyId, async () => {
      const outcome = await this.transaction(
        event.studyId,
        async (tx) => {
          // One round trip: the study lock, the notification (delivered at commit, dropped on
          // rollback) and the study row.
          const [row] = await tx
            .select({
              study: studies,
              locked: sql<string>`pg_advisory_xact_lock(hashtext(${event.studyId}))::text`,
              notified: sql<string>`pg_notify(${EVENTS_CHANNEL}, ${event.studyId})::text`,
            })
            .from(studies)
            .where(eq(studies.id, event.studyId));
          const study = row?.study;
          if (!study) return { changed: false, applied: null };
          const def = this.definition(study.id, study.source);
          const cached = await this.cache.get(tx, study.id);
          const changed = await recordEvent(tx, event, cached, def);
          if (!changed) return { changed: false, applied: null };
          let applied: AppliedDecisions | null = null;
          if (
            study.state === 'running' &&
            (event.kind === 'result' || event.kind === 'failed') &&
            study.datasets
          ) {
            applied = await this.decide(tx, study, def, cached, study.datasets);
          } else if (study.state === 'cancelled') {
            await this.closeCancelledTrials(tx, study.id, cached);
          }
          return { changed: true, applied };
        },
        { lock: false },
      );
      // Counted after the commit, so a rolled-back attempt is not counted twice.
      if (outcome.changed) this.stats.recorded[event.kind]++;
      else this.stats.duplicates++;
      if (outcome.applied) await this.enqueue(event.studyId, outcome.applied, event.kind, event.at);
    });
  }

  /**
   * Progress events need no decision and each is one idempotent statement whose WHERE
   * clauses never reopen a closed rung, so they run concurrently instead of queueing behind
   * the study's results.
   */
  private async handleProgress(event: Extract<WorkerEvent, { kind: 'started' | 'epoch' }>): Promise<void> {
    let changed: boolean;
    try {
      changed = await recordProgressEvent(this.db, event, EVENTS_CHANNEL);
    } catch (err) {
      this.cache.invalidate(event.studyId);
      throw err;
    }
    if (!changed) {
      this.stats.duplicates++;
      return;
    }
    this.stats.recorded[event.kind]++;
    await this.withStudy(event.studyId, async () => {
      cacheProgress(await this.cache.get(this.db, event.studyId), event);
    });
  }

  private async decide(
    tx: Tx,
    study: typeof studies.$inferSelect,
    def: StudyDefinition,
    cached: CachedStudy,
    datasets: DatasetRef[],
  ): Promise<AppliedDecisions> {
    const warmIds = this.schedulers.has(study.id) ? [] : warmStartIds(def.config);
    const scheduler = this.scheduler(study.id, def, await loadWarmStart(tx, warmIds));
    const context: StudyContext = { id: study.id, seed: def.seed, datasets };
    const total: AppliedDecisions = { jobs: [], created: 0, promoted: 0, stopped: 0, completed: false };
    const elapsed = study.startedAt ? (Date.now() - study.startedAt.getTime()) / 60_000 : 0;
    // Applying decisions changes the state, which can unlock more (e.g. a stop frees a
    // slot); a few rounds reach the fixed point without risking a loop.
    for (let round = 0; round < 5 && !total.completed; round++) {
      const decisions = scheduler.decide(toStudyState(cached, elapsed), this.idleSlots(cached));
      if (decisions.length === 0) break;
      const applied = await applyDecisions(tx, context, cached, decisions);
      total.jobs.push(...applied.jobs);
      total.created += applied.created;
      total.promoted += applied.promoted;
      total.stopped += applied.stopped;
      total.completed ||= applied.completed;
      if (applied.completed) {
        const endReason = describeEndReason(applied.completionReason, def, scheduler);
        if (endReason !== null) {
          await tx.update(studies).set({ endReason }).where(eq(studies.id, study.id));
          this.log.info({ studyId: study.id }, `study ends early: ${endReason}`);
        }
      }
      if (applied.created + applied.promoted + applied.stopped === 0) break;
    }
    this.inflightCounts.set(study.id, cached.inflight.size);
    if (total.completed) {
      this.log.info({ studyId: study.id, trials: cached.trials.length }, 'study completed');
      this.forget(study.id);
    }
    return total;
  }

  /** Free capacity across all running studies: online worker slots plus prefetch, minus rungs in flight. */
  private idleSlots(cached: CachedStudy): number {
    let inflight = cached.inflight.size;
    for (const [id, n] of this.inflightCounts) if (id !== cached.studyId) inflight += n;
    return Math.max(0, this.capacity + (this.options.prefetch ?? 2) - inflight);
  }

  /** Rungs in flight per running study, as of its last committed transaction. */
  private readonly inflightCounts = new Map<string, number>();

  private async enqueue(
    studyId: string,
    applied: AppliedDecisions,
    kind: AppliedEvent['kind'],
    eventAt: number | null,
  ): Promise<void> {
    await this.trialQueue.enqueueMany(applied.jobs);
    this.stats.decisions +=
      applied.created + applied.promoted + applied.stopped + (applied.completed ? 1 : 0);
    const decisions = applied.created + applied.promoted + applied.stopped + (applied.completed ? 1 : 0);
    if (decisions > 0) {
      this.emit('applied', {
        studyId,
        kind,
        eventAt,
        queuedAt: Date.now(),
        decisions,
        promoted: applied.promoted,
        created: applied.created,
      });
    }
  }

  private forget(studyId: string): void {
    this.schedulers.delete(studyId);
    this.definitions.delete(studyId);
    this.inflightCounts.delete(studyId);
    this.cache.invalidate(studyId);
  }

  // ------------------------------------------------------------------ ticks

  /** Notices new and cancelled studies and offers idle capacity to running ones. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const active = await this.db
        .select({ id: studies.id, state: studies.state })
        .from(studies)
        .where(inArray(studies.state, ['preparing', 'running']));
      for (const s of active) {
        if (s.state === 'preparing') this.preparation.start(s.id);
        else await this.tickStudy(s.id);
      }
      const cancelling = await this.db
        .selectDistinct({ id: trialRungs.studyId })
        .from(trialRungs)
        .innerJoin(studies, eq(studies.id, trialRungs.studyId))
        .where(and(eq(studies.state, 'cancelled'), inArray(trialRungs.status, ['queued', 'running'])));
      for (const s of cancelling) await this.cancelQueuedWork(s.id);
    } finally {
      this.ticking = false;
    }
  }

  async tickStudy(studyId: string): Promise<void> {
    await this.withStudy(studyId, async () => {
      const applied = await this.transaction(studyId, async (tx) => {
        const [study] = await tx.select().from(studies).where(eq(studies.id, studyId));
        if (!study || study.state !== 'running' || !study.datasets) return null;
        const def = this.definition(study.id, study.source);
        const cached = await this.cache.get(tx, study.id);
        const result = await this.decide(tx, study, def, cached, study.datasets);
        if (result.jobs.length > 0 || result.stopped > 0 || result.completed) {
          await tx.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${study.id})`);
        }
        return result;
      });
      if (applied) await this.enqueue(studyId, applied, 'tick', null);
    });
  }

  // ------------------------------------------------------------------ cancellation

  /**
   * For a cancelled study: flags it in Redis (running rungs stop after their epoch), removes
   * waiting jobs and closes their rungs. Rungs whose job is already running stay open until
   * the worker reports.
   */
  async cancelQueuedWork(studyId: string): Promise<void> {
    await this.redis.set(redisKeys.cancelled(this.options.prefix, studyId), '1', 'EX', 7 * 24 * 3600);
    await this.withStudy(studyId, async () => {
      const open = await this.db
        .select({ jobId: trialRungs.jobId, status: trialRungs.status })
        .from(trialRungs)
        .where(and(eq(trialRungs.studyId, studyId), inArray(trialRungs.status, ['queued', 'running'])));
      const removed: string[] = [];
      for (const r of open) {
        // A running rung reports its own end, unless Redis lost its job (then nobody will).
        if (
          r.status === 'queued'
            ? await this.trialQueue.removeIfIdle(r.jobId)
            : (await this.trialQueue.state(r.jobId)) === 'unknown'
        ) {
          removed.push(r.jobId);
        }
      }
      await this.transaction(studyId, async (tx) => {
        if (removed.length > 0) {
          await tx
            .update(trialRungs)
            .set({ status: 'cancelled', finishedAt: new Date() })
            .where(
              and(inArray(trialRungs.jobId, removed), inArray(trialRungs.status, ['queued', 'running'])),
            );
        }
        const cached = await this.cache.get(tx, studyId);
        for (const t of cached.trials) {
          for (const r of t.rungs) {
            if ((r.status === 'queued' || r.status === 'running') && removed.includes(`${t.id}:${r.rung}`))
              r.status = 'cancelled';
          }
        }
        for (const id of removed) cached.inflight.delete(id);
        await this.closeCancelledTrials(tx, studyId, cached);
        await tx.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${studyId})`);
      });
      this.forget(studyId);
    });
  }

  /** Trials of a cancelled study with nothing in flight are cancelled (finished ones keep their status). */
  private async closeCancelledTrials(tx: Tx, studyId: string, cached: CachedStudy): Promise<void> {
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
    for (const t of idle) t.status = 'cancelled';
  }

  // ------------------------------------------------------------------ reconciliation

  /** Makes Redis agree with Postgres for every study that still has work in flight. */
  async reconcileAll(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      const open = await this.db
        .selectDistinct({ id: trialRungs.studyId, state: studies.state })
        .from(trialRungs)
        .innerJoin(studies, eq(studies.id, trialRungs.studyId))
        .where(inArray(trialRungs.status, ['queued', 'running']));
      for (const s of open) {
        if (s.state === 'cancelled') {
          await this.redis.set(redisKeys.cancelled(this.options.prefix, s.id), '1', 'EX', 7 * 24 * 3600);
        }
        await this.reconcileStudy(s.id, s.state === 'running');
      }
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileStudy(studyId: string, requeue: boolean): Promise<void> {
    // Inspect and re-enqueue under the study lock so no concurrent enqueue races the check.
    const report = await this.withStudy(studyId, async () => {
      const r = await inspectStudy(this.db, this.trialQueue, studyId);
      if (requeue) {
        for (const m of r.missing) {
          if (!m.data) continue;
          await this.trialQueue.enqueue(m.data);
          this.stats.requeued++;
        }
      }
      return r;
    });
    if (report.missing.length + report.finished.length + report.failed.length > 0) {
      this.log.warn(
        {
          studyId,
          requeued: requeue ? report.missing.map((m) => m.jobId) : [],
          finished: report.finished.length,
          failed: report.failed.length,
        },
        'reconciled Postgres against Redis',
      );
    }
    for (const f of report.finished) {
      this.stats.recovered++;
      await this.handleEvent({
        kind: 'result',
        studyId,
        trialId: f.rung.trialId,
        rung: f.rung.rung,
        jobId: f.rung.jobId,
        workerId: f.result.workerId,
        at: Date.now(),
        result: f.result,
      });
    }
    for (const f of report.failed) {
      await this.handleEvent({
        kind: 'failed',
        studyId,
        trialId: f.rung.trialId,
        rung: f.rung.rung,
        jobId: f.rung.jobId,
        workerId: f.workerId ?? 'unknown',
        at: Date.now(),
        error: f.reason,
      });
    }
  }

  // ------------------------------------------------------------------ workers

  /** Rung slots of the workers online at the last refresh. */
  onlineCapacity(): number {
    return this.capacity;
  }

  /** Mirrors worker heartbeats from Redis into Postgres and updates the capacity used for idle slots. */
  async refreshWorkers(): Promise<void> {
    const live = await readWorkers(this.redis, this.options.prefix);
    this.capacity = live.filter((w) => w.online).reduce((n, w) => n + w.concurrency, 0);
    for (const w of live) {
      const row = {
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
      };
      await this.db
        .insert(workersTable)
        .values(row)
        .onConflictDoUpdate({ target: workersTable.id, set: row });
    }
  }
}
