import { sql, type SQL } from 'drizzle-orm';
import type { Database, Db, Tx } from '../db/client.js';
import type { Observation } from '../scheduling/sampler.js';
import type { Scheduler } from '../scheduling/types.js';
import type { Leadership } from './leadership.js';
import { StudyStateCache } from './state-cache.js';
import type { StudyDefinition, StudyFactory } from './study-definition.js';

/**
 * What the coordinator keeps in memory per study (parsed definition, scheduler, cached
 * state, rungs in flight) and the two ways to change it safely: the in-process study lock
 * and the fenced Postgres transaction. Every part that writes study state goes through here.
 */
export class StudyRuntime {
  readonly cache = new StudyStateCache();
  private readonly definitions = new Map<string, StudyDefinition>();
  private readonly schedulers = new Map<string, Scheduler>();
  /** Rungs in flight per running study, as of its last committed transaction. */
  private readonly inflightCounts = new Map<string, number>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly database: Database,
    private readonly leadership: Leadership,
    private readonly studies: StudyFactory,
  ) {}

  get db(): Db {
    return this.database.db;
  }

  definition(studyId: string, source: unknown): StudyDefinition {
    let def = this.definitions.get(studyId);
    if (!def) {
      const raw = source as { yaml?: unknown };
      def = this.studies.parse(typeof raw.yaml === 'string' ? raw.yaml : (source as object));
      this.definitions.set(studyId, def);
    }
    return def;
  }

  hasScheduler(studyId: string): boolean {
    return this.schedulers.has(studyId);
  }

  scheduler(studyId: string, def: StudyDefinition, warmStart: readonly Observation[]): Scheduler {
    let s = this.schedulers.get(studyId);
    if (!s) {
      s = def.createScheduler(warmStart);
      this.schedulers.set(studyId, s);
    }
    return s;
  }

  setInflight(studyId: string, n: number): void {
    this.inflightCounts.set(studyId, n);
  }

  /** Rungs in flight in every running study but `studyId`. */
  inflightElsewhere(studyId: string): number {
    let n = 0;
    for (const [id, count] of this.inflightCounts) if (id !== studyId) n += count;
    return n;
  }

  /** Drops a finished or cancelled study's memory. */
  forget(studyId: string): void {
    this.schedulers.delete(studyId);
    this.definitions.delete(studyId);
    this.inflightCounts.delete(studyId);
    this.cache.invalidate(studyId);
  }

  /** After leadership changed hands nothing cached can be trusted. */
  forgetAll(): void {
    this.schedulers.clear();
    this.definitions.clear();
    this.inflightCounts.clear();
    this.cache.clear();
  }

  /** Serialises everything that touches one study (events, ticks, reconciliation) in this process. */
  withStudy<T>(studyId: string, fn: () => Promise<T>): Promise<T> {
    return this.withStudies([studyId], fn);
  }

  /** Runs `fn` once every listed study is free, holding all of them (taken at once: no deadlock). */
  withStudies<T>(studyIds: readonly string[], fn: () => Promise<T>): Promise<T> {
    const previous = Promise.all(studyIds.map((id) => this.locks.get(id)));
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    for (const id of studyIds) this.locks.set(id, tail);
    void tail.then(() => {
      for (const id of studyIds) if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  /** Resolves when the study work started so far has finished (graceful stop). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.locks.values()]);
  }

  /** The leadership check as a condition for a transaction's first query (see `transaction`). */
  fenceCondition(): SQL {
    return this.leadership.fenceCondition();
  }

  /** Throws FencedError unless the condition selected by the first query held. */
  confirmFence(held: boolean): void {
    this.leadership.confirmFence(held);
  }

  /** The leadership check in a query of its own. */
  fence(tx: Tx): Promise<void> {
    return this.leadership.fence(tx);
  }

  /**
   * One fenced transaction: the leadership check commits with the writes or not at all, and
   * `lock` takes the studies' advisory locks first (callers that fetch the study rows anyway
   * take them in that query instead). The coordinator's pool commits without waiting for the
   * WAL flush (synchronous_commit off: ~7 ms of fsync per commit on a small machine). A Postgres
   * crash can lose the last few hundred ms of commits but never corrupts: the reconciler
   * re-reads results of finished jobs from Redis, and re-deciding on the older state yields the
   * same trial and job ids (deterministic schedulers), so nothing is lost or doubled.
   * With `fence: 'first-query'` the caller selects `fenceCondition()` in its first query and
   * hands it to `confirmFence` before any write (one round trip less on the results path).
   */
  async transaction<T>(
    studyIds: readonly string[],
    fn: (tx: Tx) => Promise<T>,
    options: { lock: boolean; fence?: 'own-query' | 'first-query' } = { lock: true },
  ): Promise<T> {
    try {
      return await this.database.db.transaction(async (tx) => {
        if (options.lock) await lockStudies(tx, studyIds);
        if (options.fence !== 'first-query') await this.leadership.fence(tx);
        return fn(tx);
      });
    } catch (err) {
      // The cache may hold changes of the rolled-back transaction: reload from Postgres next time.
      for (const id of studyIds) this.cache.invalidate(id);
      throw err;
    }
  }
}

/** Transaction-scoped advisory locks of the studies: a second writer of a study waits for the commit. */
export async function lockStudies(tx: Tx, studyIds: readonly string[]): Promise<void> {
  if (studyIds.length === 0) return;
  const locks = sql.join(
    studyIds.map((id) => sql`pg_advisory_xact_lock(hashtext(${id}))`),
    sql`, `,
  );
  await tx.execute(sql`SELECT ${locks}`);
}
