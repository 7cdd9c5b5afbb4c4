import { and, eq, sql } from 'drizzle-orm';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  PREPARE_QUEUE,
  PrepareResultSchema,
  closeQueue,
  prepareJobId,
  publicPreparationError,
  type DatasetRef,
  type Logger,
  type PrepareJobData,
  type PrepareResult,
} from '@braintune/protocol';
import type { Db } from '../db/client.js';
import { studies } from '../db/schema.js';
import { StudyConfigError } from '../study/problems.js';
import { EVENTS_CHANNEL } from './events.js';
import type { StudyDefinition } from './study-definition.js';
import { warmStartProblems } from './warm-start.js';

/** Tries of a preparation that throws (not a refused data set) before the study fails. */
const PREPARE_ATTEMPTS = 3;
/** Ended prepare jobs stay this long: a coordinator down for less still finds the answer. */
const KEEP_ENDED_SECONDS = 7 * 24 * 3600;

/** The prepare job of a study: every bundle its trials may use, and its test sets. */
export function preparationPayload(studyId: string, def: StudyDefinition): PrepareJobData {
  return {
    studyId,
    dataset: def.dataset,
    bundles: def.bundles,
    testSets: def.testSets,
  };
}

/**
 * The coordinator's side of PREPARE_QUEUE. A worker builds the bundles and returns them as the
 * job's return value; the coordinator asks for it on every tick while the study is `preparing`.
 * Polling, rather than an event pushed to the coordinator, is what makes a restart harmless:
 * the answer waits in Redis with the job, the study row says which jobs to ask about, and a job
 * Redis lost is simply enqueued again (its bundles are content-addressed, so found and reused).
 */
export class PreparationJobs {
  private readonly queue: Queue<PrepareJobData, PrepareResult>;

  /** `maxAtOnce`: preparations running at once across the whole cluster (BullMQ global concurrency). */
  constructor(
    connection: Redis,
    prefix: string,
    private readonly maxAtOnce: number,
    private readonly log: Logger,
  ) {
    this.queue = new Queue(PREPARE_QUEUE, { connection, prefix });
  }

  /** Enqueues the study's preparation if Redis has no job for it; the job's answer once it has ended, else null. */
  async poll(studyId: string, def: StudyDefinition): Promise<PrepareResult | null> {
    const id = prepareJobId(studyId);
    const state = await this.queue.getJobState(id);
    if (state === 'unknown') {
      await this.enqueue(studyId, def);
      return null;
    }
    if (state !== 'completed' && state !== 'failed') return null;
    // Read after the state: an ended job's answer is final, whereas a job read first and asked
    // its state second could have ended in between, its copy still without the answer.
    const job = await this.queue.getJob(id);
    if (!job) return null; // removed in between: the next poll enqueues it again
    if (state === 'completed') {
      const parsed = PrepareResultSchema.safeParse(job.returnvalue);
      if (parsed.success) return parsed.data;
      this.log.error({ studyId, issues: parsed.error.issues }, 'malformed prepare job result');
      return { ok: false, error: publicPreparationError(parsed.error, null, def.dataset.path) };
    }
    this.log.error({ studyId, err: job.failedReason }, 'prepare job failed on its last attempt');
    return {
      ok: false,
      error: publicPreparationError(new Error(job.failedReason), null, def.dataset.path),
    };
  }

  private async enqueue(studyId: string, def: StudyDefinition): Promise<void> {
    // Set with every enqueue (one small write), so a Redis that lost its keys gets the cap back.
    await this.queue.setGlobalConcurrency(this.maxAtOnce);
    await this.queue.add('prepare', preparationPayload(studyId, def), {
      jobId: prepareJobId(studyId),
      attempts: PREPARE_ATTEMPTS,
      backoff: { type: 'exponential', delay: 5000 },
      removeOnComplete: { age: KEEP_ENDED_SECONDS },
      removeOnFail: { age: KEEP_ENDED_SECONDS },
    });
  }

  async close(): Promise<void> {
    await closeQueue(this.queue);
  }
}

export interface PreparationContext {
  db: Db;
  log: Logger;
  jobs: PreparationJobs;
  /** The study's parsed definition (the coordinator caches them). */
  definition(studyId: string, source: unknown): StudyDefinition;
}

/**
 * Moves a `preparing` study on once its prepare job has ended: records the bundles and sets it
 * `running`, or fails it with a message fit for any API client. True when it is now running
 * (the caller then lets the scheduler start).
 */
export async function advancePreparation(ctx: PreparationContext, studyId: string): Promise<boolean> {
  const [study] = await ctx.db.select().from(studies).where(eq(studies.id, studyId));
  if (!study || study.state !== 'preparing') return false;
  const def = ctx.definition(study.id, study.source);
  const result = await ctx.jobs.poll(studyId, def);
  if (result === null) return false;
  const datasets = result.ok ? result.bundles.map((b) => b.dataset) : [];
  const problem = result.ok ? await problemWith(ctx.db, def, datasets) : result.error;
  if (problem !== null) {
    ctx.log.error({ studyId, err: problem }, 'dataset preparation failed');
    await endPreparing(ctx.db, studyId, {
      state: 'failed',
      error: `dataset preparation failed: ${problem}`,
      finishedAt: new Date(),
    });
    return false;
  }
  for (const { dataset, reused, images } of result.ok ? result.bundles : []) {
    const { hash, imageSize, preprocessing, split } = dataset;
    ctx.log.info({ studyId, hash, imageSize, preprocessing, split, reused, images }, 'dataset ready');
  }
  await endPreparing(ctx.db, studyId, {
    dataset: datasets[0],
    datasets,
    state: 'running',
    startedAt: new Date(),
  });
  return true;
}

/** What the study's config says about the prepared bundles (null: fine), as shown to clients. */
async function problemWith(
  db: Db,
  def: StudyDefinition,
  datasets: readonly DatasetRef[],
): Promise<string | null> {
  try {
    for (const d of datasets) def.checkClasses(d.classes);
    // Once every bundle variant is known: warm-start sources must have trained on the same ones.
    const problems = await warmStartProblems(db, def.config, datasets);
    if (problems.length > 0) throw new StudyConfigError(problems);
    return null;
  } catch (err) {
    return publicPreparationError(err, null, def.dataset.path);
  }
}

/** Leaves `preparing` (only from it: a study cancelled meanwhile stays cancelled) and notifies listeners. */
async function endPreparing(
  db: Db,
  studyId: string,
  set: Partial<typeof studies.$inferInsert>,
): Promise<void> {
  await db
    .update(studies)
    .set({ ...set, updatedAt: new Date() })
    .where(and(eq(studies.id, studyId), eq(studies.state, 'preparing')));
  await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${studyId})`);
}
