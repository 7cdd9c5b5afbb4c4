import { EventEmitter } from 'node:events';
import { and, eq, inArray } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { openArtifactStore, type ArtifactStore } from '@braintune/artifacts';
import type { Logger } from '@braintune/protocol';
import { migrateDatabase, openDatabase, type Database } from '../db/client.js';
import { logFailure } from '../db/connection-monitor.js';
import { studies, trialRungs } from '../db/schema.js';
import { createRedis } from '../queue/connection.js';
import { ResultsStreamReader } from '../queue/results-stream.js';
import { TrialQueue } from '../queue/trial-queue.js';
import { cancelQueuedWork } from './cancellation.js';
import { CheckpointJanitor } from './checkpoint-janitor.js';
import { DecisionLoop } from './decision-loop.js';
import { EVENTS_CHANNEL, newStats, type AppliedEvent, type CoordinatorStats } from './events.js';
import { Leadership } from './leadership.js';
import { resolveOptions, type CoordinatorOptions, type ResolvedOptions } from './options.js';
import { PreparationJobs, advancePreparation } from './preparation-jobs.js';
import { Reconciliation } from './reconciliation.js';
import { ResultsConsumer } from './results-consumer.js';
import { ResultsIntake } from './results-intake.js';
import { StudyRuntime } from './study-runtime.js';
import { WorkerMirror } from './worker-mirror.js';

export { EVENTS_CHANNEL, type AppliedEvent, type CoordinatorOptions };

/**
 * The single writer of study state, assembled from parts with one job each (see
 * docs/architecture.md): Leadership (one coordinator per database, fenced writes),
 * ResultsConsumer (results streams → recorder, acknowledged after commit), ResultsIntake
 * (worker events → group-committed transactions), DecisionLoop (scheduler
 * decisions → trial rungs on the queue), PreparationJobs (workers build the bundles), Reconciliation (Postgres vs
 * Redis), cancellation and WorkerMirror (heartbeats → Postgres, capacity). This class wires
 * them, runs the periodic loops and pauses everything while another coordinator leads.
 */
export class Coordinator extends EventEmitter<{ applied: [AppliedEvent] }> {
  readonly log: Logger;
  readonly database: Database;
  readonly redis: Redis;
  readonly trialQueue: TrialQueue;
  readonly store: ArtifactStore;
  /** Prepare jobs (workers build the data-set bundles). */
  readonly preparations: PreparationJobs;
  /** Counters since start (tests, benchmarks and metrics read them). */
  readonly stats: CoordinatorStats = newStats();
  private readonly leadership: Leadership;
  private readonly runtime: StudyRuntime;
  private readonly decisions: DecisionLoop;
  private readonly intake: ResultsIntake;
  private readonly consumer: ResultsConsumer;
  private readonly janitor: CheckpointJanitor;
  private readonly reconciliation: Reconciliation;
  private readonly workers: WorkerMirror;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private ticking = false;

  private constructor(private readonly options: ResolvedOptions) {
    super();
    const { prefix } = options;
    this.log = options.logger;
    this.database = openDatabase(options.databaseUrl, { asyncCommit: true, logger: this.log });
    this.redis = createRedis(options.redisUrl, this.log);
    this.trialQueue = new TrialQueue({ connection: this.redis, prefix, attempts: options.jobAttempts });
    this.store = openArtifactStore(options.artifactRoot);
    this.janitor = new CheckpointJanitor(this.store, this.log);
    this.leadership = new Leadership(
      options.databaseUrl,
      this.log,
      (leading) => void this.onLeadership(leading),
    );
    const runtime = new StudyRuntime(this.database, this.leadership, options.studies);
    this.runtime = runtime;
    this.workers = new WorkerMirror({ runtime, redis: this.redis, prefix });
    this.decisions = new DecisionLoop({
      runtime,
      trialQueue: this.trialQueue,
      log: this.log,
      stats: this.stats,
      prefetch: options.prefetch,
      capacity: () => this.workers.capacity,
      onApplied: (event) => this.emit('applied', event),
    });
    this.intake = new ResultsIntake({
      runtime,
      decisions: this.decisions,
      log: this.log,
      stats: this.stats,
      batchSize: options.resultsBatch,
      superseded: (keys) => this.janitor.discard(keys),
    });
    this.consumer = new ResultsConsumer({
      reader: new ResultsStreamReader(this.redis, prefix),
      record: (events) => this.intake.record(events),
      log: this.log,
      monitor: this.database.monitor,
      concurrency: options.resultsConcurrency,
    });
    this.reconciliation = new Reconciliation({
      runtime,
      trialQueue: this.trialQueue,
      redis: this.redis,
      prefix,
      log: this.log,
      stats: this.stats,
      record: (events) => this.intake.record(events),
    });
    this.preparations = new PreparationJobs(this.redis, prefix, options.maxPreparations, this.log);
  }

  /**
   * Migrates, waits to be the only coordinator of the database (see Leadership), reconciles
   * Postgres against Redis, then starts consuming results and the periodic loops.
   */
  static async start(input: CoordinatorOptions): Promise<Coordinator> {
    const options = resolveOptions(input);
    if (options.migrate) await migrateDatabase(options.databaseUrl);
    const c = new Coordinator(options);
    await c.leadership.acquire();
    await c.refreshWorkers();
    await c.reconcileAll();
    await c.consumer.start();
    c.every(options.tickMs, () => c.tick());
    c.every(options.reconcileMs, () => c.reconcileAll());
    c.every(options.workersMs, () => c.refreshWorkers());
    c.log.info({ prefix: options.prefix, store: c.store.location }, 'coordinator started');
    return c;
  }

  get db() {
    return this.database.db;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.consumer.close();
    // Let in-flight study work finish so nothing is half-applied in memory.
    await this.runtime.settled();
    await this.decisions.settled();
    await this.janitor.drain();
    await this.trialQueue.close();
    await this.preparations.close();
    this.redis.disconnect();
    await this.database.close();
    await this.leadership.release();
  }

  /** Paused while another coordinator may be writing; on regaining, forget everything cached. */
  private async onLeadership(leading: boolean): Promise<void> {
    if (!this.consumer.consuming) return; // still starting
    if (leading) {
      this.runtime.forgetAll();
      this.consumer.resume();
      await this.reconcileAll().catch((err: unknown) =>
        this.log.error({ err }, 'reconcile after regaining leadership failed'),
      );
    } else {
      this.consumer.pause();
    }
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(() => {
      if (this.stopped || !this.leadership.isLeader) return;
      fn().catch((err: unknown) =>
        logFailure(this.database.monitor, this.log, err, 'periodic task failed', 'error'),
      );
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

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
        if (s.state === 'preparing') await this.prepare(s.id);
        else if (!this.decisions.decidedWithin(s.id, this.options.tickMs))
          await this.decisions.tickStudy(s.id);
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

  /** Enqueues the study's prepare job (workers build the bundles); once it has ended, starts or fails the study. */
  private async prepare(studyId: string): Promise<void> {
    const context = {
      db: this.db,
      log: this.log,
      jobs: this.preparations,
      definition: (id: string, source: unknown) => this.runtime.definition(id, source),
    };
    const running = await advancePreparation(context, studyId).catch((err: unknown) => {
      logFailure(
        this.database.monitor,
        this.log,
        err,
        'checking the dataset preparation failed; retrying next tick',
        'error',
        { studyId },
      );
      return false;
    });
    if (running) await this.decisions.tickStudy(studyId);
  }

  tickStudy(studyId: string): Promise<void> {
    return this.decisions.tickStudy(studyId);
  }

  /** Removes a cancelled study's waiting rungs (running ones stop after their epoch). */
  cancelQueuedWork(studyId: string): Promise<void> {
    return cancelQueuedWork(
      { runtime: this.runtime, trialQueue: this.trialQueue, redis: this.redis, prefix: this.options.prefix },
      studyId,
    );
  }

  /** Makes Redis agree with Postgres for every study that still has work in flight. */
  reconcileAll(): Promise<void> {
    return this.reconciliation.reconcileAll();
  }

  /** Rung slots of the workers online at the last refresh. */
  onlineCapacity(): number {
    return this.workers.capacity;
  }

  /** Mirrors worker heartbeats from Redis into Postgres and updates the capacity used for idle slots. */
  refreshWorkers(): Promise<void> {
    return this.workers.refresh();
  }
}
