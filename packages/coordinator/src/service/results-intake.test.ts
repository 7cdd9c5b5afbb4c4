import { randomBytes } from 'node:crypto';
import { and, asc, eq, inArray, lt } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Evaluation, type WorkerEvent } from '@braintune/protocol';
import { dropDatabase, migrateDatabase, openDatabase, type Database } from '../db/client.js';
import { epochMetrics, evaluations as evaluationRows, studies, trialRungs, trials } from '../db/schema.js';
import { deleteKeysWithPrefix } from '../queue/index.js';
import { TrialQueue } from '../queue/trial-queue.js';
import { DecisionLoop } from './decision-loop.js';
import { newStats, type AppliedEvent } from './events.js';
import { FencedError, Leadership } from './leadership.js';
import { ResultsIntake } from './results-intake.js';
import { defaultStudyFactory } from './study-factory.js';
import { StudyRuntime } from './study-runtime.js';

process.env.LOG_LEVEL ??= 'silent';
const url = `postgres://postgres@127.0.0.1:5432/bt_intake_${randomBytes(3).toString('hex')}`;
const prefix = `bt-intake-${randomBytes(3).toString('hex')}`;
const log = createLogger('test');
// Hyperband(9, 3), one iteration: its first bracket trains 9 trials for 1 epoch, then promotes the best 3.
const YAML = `name: intake
dataset: {path: /d, imageSize: 16}
searchSpace: {learningRate: {type: float, min: 0.0001, max: 0.1, sampling: log}}
scheduler: {type: hyperband, maxEpochs: 9, factor: 3, iterations: 1}
seed: 5
`;

let database: Database;
let leadership: Leadership;
let redis: Redis;
let trialQueue: TrialQueue;
/** The batch the first test records; the second records it again. */
let firstBatch: WorkerEvent[] = [];

/** The coordinator's parts that record and decide, with their own memory (one per simulated coordinator). */
function parts(slots: number) {
  const runtime = new StudyRuntime(database, leadership, defaultStudyFactory);
  const stats = newStats();
  const applied: AppliedEvent[] = [];
  const superseded: string[] = [];
  const decisions = new DecisionLoop({
    runtime,
    trialQueue,
    log,
    stats,
    prefetch: 0,
    capacity: () => slots,
    onApplied: (e) => applied.push(e),
  });
  const intake = new ResultsIntake({
    runtime,
    decisions,
    log,
    stats,
    batchSize: 64,
    superseded: (keys) => superseded.push(...keys),
  });
  return { decisions, intake, stats, applied, superseded };
}

async function runningStudy(id: string): Promise<void> {
  const def = defaultStudyFactory.parse(YAML);
  await database.db.insert(studies).values({
    id,
    name: id,
    config: def.config,
    source: { yaml: YAML },
    state: 'running',
    startedAt: new Date(),
    datasets: [{ hash: 'b'.repeat(64), imageSize: 16, classes: ['a', 'b'] }],
  });
}

function evaluation(score: number): Evaluation {
  const avg = { precision: score, recall: score, f1: score, support: 20 };
  const perClass = { a: { ...avg, support: 10 }, b: { ...avg, support: 10 } };
  return {
    classes: ['a', 'b'],
    confusionMatrix: [
      [10, 0],
      [0, 10],
    ],
    report: { classes: ['a', 'b'], perClass, accuracy: score, macroAvg: avg, weightedAvg: avg },
    loss: 1 - score,
  };
}

const POINTING = {
  scans: 12,
  pointingAccuracy: 0.75,
  massInside: 0.4,
  chance: { pointingAccuracy: 0.05, massInside: 0.04 },
  method: 'gradcam++',
  layer: 'block2_conv1',
};

/** 'started', 'epoch' and a completed 'result' event per rung of the first bracket; the score grows with the trial index. */
async function eventsFor(studyId: string, rung: number): Promise<WorkerEvent[]> {
  const open = await database.db
    .select({
      jobId: trialRungs.jobId,
      trialId: trialRungs.trialId,
      rung: trialRungs.rung,
      index: trials.index,
    })
    .from(trialRungs)
    .innerJoin(trials, eq(trials.id, trialRungs.trialId))
    .where(and(eq(trialRungs.studyId, studyId), eq(trialRungs.rung, rung), lt(trials.index, 9)))
    .orderBy(asc(trials.index));
  return open.flatMap(({ jobId, trialId, rung, index }): WorkerEvent[] => {
    const ref = { studyId, trialId, rung, jobId, workerId: 'w1', at: Date.now() };
    const score = 0.5 + index / 100;
    const metrics = {
      epoch: 1,
      loss: 1 - score,
      accuracy: score,
      valLoss: 1 - score,
      valAccuracy: score,
      valMacroF1: score,
      valRecall: { a: score, b: score },
      trainImagesPerSecond: 1,
      durationMs: 1,
    };
    return [
      { kind: 'started', ...ref, attempt: 1 },
      { kind: 'epoch', ...ref, metrics },
      {
        kind: 'result',
        ...ref,
        result: {
          trialId,
          rung,
          workerId: 'w1',
          outcome: 'completed',
          epochsDone: 1,
          checkpointKey: `checkpoints/${studyId}/trial-${index}/rung-${rung}-a`,
          earlierAttemptKeys: [],
          history: [metrics],
          evaluation: evaluation(score),
          testScores: {},
          pointing: index === 8 ? POINTING : null,
          error: null,
        },
      },
    ];
  });
}

/** Every rung of the study with its trial's index, ordered. */
async function rungRows(studyId: string) {
  return database.db
    .select({
      index: trials.index,
      rung: trialRungs.rung,
      status: trialRungs.status,
      score: trialRungs.score,
      startedAt: trialRungs.startedAt,
      attempts: trialRungs.attempts,
      workerId: trialRungs.workerId,
    })
    .from(trialRungs)
    .innerJoin(trials, eq(trials.id, trialRungs.trialId))
    .where(eq(trialRungs.studyId, studyId))
    .orderBy(asc(trials.index), asc(trialRungs.rung));
}

/** Every rung of the study as (trial index, rung, status, score). */
async function rungsOf(studyId: string) {
  return (await rungRows(studyId)).map(({ index, rung, status, score }) => ({ index, rung, status, score }));
}

/** Attempts and worker of every rung with a start time. */
async function startsOf(studyId: string) {
  return (await rungRows(studyId))
    .filter((r) => r.startedAt !== null)
    .map(({ index, rung, attempts, workerId }) => ({ index, rung, attempts, workerId }));
}

describe('results intake (group commit)', () => {
  beforeAll(async () => {
    await migrateDatabase(url);
    database = openDatabase(url);
    leadership = new Leadership(url, log, () => undefined);
    await leadership.acquire();
    redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    trialQueue = new TrialQueue({ connection: redis, prefix });
  });

  afterAll(async () => {
    await trialQueue.close();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await leadership.release();
    await database.close();
    await dropDatabase(url);
  });

  it('records a batch in one transaction, decides once, and decides as event-by-event recording does', async () => {
    // Slots for every trial of the iteration: the order of decisions then depends on the
    // scheduler alone, not on which trial happened to free a slot first.
    const batched = parts(100);
    await runningStudy('st-batch');
    await batched.decisions.tickStudy('st-batch');
    // Distinct production times (trial i at T0 + i s): a promotion is timed from its own outcome.
    const T0 = 1_700_000_000_000;
    const producedAt = (e: WorkerEvent) => T0 + Number(e.trialId.split(':').at(-1)) * 1000;
    firstBatch = (await eventsFor('st-batch', 0)).map((e) => ({ ...e, at: producedAt(e) }));
    expect(firstBatch).toHaveLength(27);
    // A redelivered result inside the same batch changes nothing.
    await batched.intake.record([...firstBatch, firstBatch[1]!]);
    // Recording resolves at the commit; the decided rungs are queued right after.
    await batched.decisions.settled();
    expect(batched.stats.batches).toBe(1);
    expect(batched.stats.recorded).toEqual({ started: 9, epoch: 9, result: 9, failed: 0 });
    expect(batched.stats.duplicates).toBe(1);
    const promotion = batched.applied.find((a) => a.kind === 'result');
    expect(promotion?.promoted).toBe(3);
    expect(promotion?.eventAt).toBe(T0);
    expect([...(promotion?.promotedFrom ?? [])].sort()).toEqual([6, 7, 8].map((i) => T0 + i * 1000));
    // A trial's first key is the folder its attempts write into: nothing to delete yet.
    expect(batched.superseded).toEqual([]);

    const sequential = parts(100);
    await runningStudy('st-seq');
    await sequential.decisions.tickStudy('st-seq');
    for (const e of await eventsFor('st-seq', 0)) await sequential.intake.record([e]);
    await sequential.decisions.settled();
    expect(sequential.stats.batches).toBe(27);

    const after = await rungsOf('st-batch');
    expect(after).toEqual(await rungsOf('st-seq'));
    // The batch folded each 'started' into its result's update; recorded alone, it had its own.
    const starts = await startsOf('st-batch');
    expect(starts).toEqual(await startsOf('st-seq'));
    expect(starts.filter((r) => r.rung === 0)).toHaveLength(9);
    expect(starts.filter((r) => r.rung === 0).every((r) => r.attempts === 1 && r.workerId === 'w1')).toBe(
      true,
    );
    // The promoted trials' next rung replaces their rung-0 checkpoints, which go for deletion.
    for (const e of await eventsFor('st-seq', 1)) await sequential.intake.record([e]);
    expect(sequential.superseded.sort()).toEqual(
      [6, 7, 8].map((i) => `checkpoints/st-seq/trial-${i}/rung-0-a`),
    );

    // The best three (highest indexes) went on to rung 1, and their jobs are queued.
    expect(after.filter((r) => r.rung === 1).map((r) => r.index)).toEqual([6, 7, 8]);
    expect(await trialQueue.getJob('st-batch:8:1')).toBeDefined();
    const [trial] = await database.db.select().from(trials).where(eq(trials.id, 'st-batch:0'));
    expect(trial).toMatchObject({ status: 'stopped', epochsDone: 1, valMacroF1: 0.5, pointing: null });
    // The pointing game travels with the result onto its rung and its trial.
    const [best] = await database.db.select().from(trials).where(eq(trials.id, 'st-batch:8'));
    expect(best?.pointing).toEqual(POINTING);
    const [bestRung] = await database.db
      .select()
      .from(trialRungs)
      .where(eq(trialRungs.jobId, 'st-batch:8:0'));
    expect(bestRung?.pointing).toEqual(POINTING);
    // One epoch row per rung although both the epoch event and the result carried it; one evaluation per rung.
    expect(await database.db.$count(epochMetrics, eq(epochMetrics.studyId, 'st-batch'))).toBe(9);
    expect(await database.db.$count(evaluationRows, eq(evaluationRows.studyId, 'st-batch'))).toBe(9);
  });

  it('is idempotent: the same batch again changes nothing', async () => {
    const again = parts(100);
    const before = await rungsOf('st-batch');
    await again.intake.record(firstBatch);
    expect(again.stats.recorded).toEqual({ started: 0, epoch: 0, result: 0, failed: 0 });
    expect(again.stats.duplicates).toBe(firstBatch.length);
    expect(again.superseded).toEqual([]);
    expect(await rungsOf('st-batch')).toEqual(before);
  });

  it('a started event that arrives after its result keeps the outcome and adds the start time', async () => {
    const late = parts(100);
    await runningStudy('st-late');
    await late.decisions.tickStudy('st-late');
    const events = await eventsFor('st-late', 0);
    const results = events.filter((e) => e.kind === 'result');
    const starts = events.filter((e) => e.kind === 'started');
    await late.intake.record(results);
    await late.decisions.settled();
    const closed = await rungsOf('st-late');
    // Four arrive alone; five beside their result delivered again (folded into its update).
    await late.intake.record([...starts, ...results.slice(4)]);
    expect(late.stats.recorded.started).toBe(0);
    expect(await rungsOf('st-late')).toEqual(closed);
    const rung0 = await database.db
      .select({ startedAt: trialRungs.startedAt, attempts: trialRungs.attempts })
      .from(trialRungs)
      .where(inArray(trialRungs.jobId, [...new Set(events.map((e) => e.jobId))]));
    expect(rung0).toHaveLength(9);
    expect(rung0.every((r) => r.startedAt !== null && r.attempts === 1)).toBe(true);
  });

  it("deletes the losing attempts a retried rung's result names, and nothing on a re-delivery", async () => {
    const retried = parts(100);
    await runningStudy('st-retry');
    await retried.decisions.tickStudy('st-retry');
    const folder = 'checkpoints/st-retry/trial-3';
    // Trial 3's rung 0 won on its third attempt; the two before it crashed after writing.
    const named = [
      `${folder}/rung-0-crashed1`,
      `${folder}/rung-0-crashed2`,
      `${folder}/rung-0-a`, // its own directory: kept
      `${folder}/rung-1-b`, // another rung's: not this result's to delete
      `${folder}/rung-0-c/weights`, // inside an attempt, not one: left
      'checkpoints/st-retry/trial-4/rung-0-d', // another trial's: left
    ];
    const events = (await eventsFor('st-retry', 0)).map((e) =>
      e.kind === 'result' && e.trialId === 'st-retry:3'
        ? { ...e, result: { ...e.result, earlierAttemptKeys: named } }
        : e,
    );
    await retried.intake.record(events);
    expect(retried.stats.recorded.result).toBe(9);
    expect(retried.superseded).toEqual([`${folder}/rung-0-crashed1`, `${folder}/rung-0-crashed2`]);
    // The same result again closes nothing, so it deletes nothing.
    await retried.intake.record(events.filter((e) => e.kind === 'result'));
    expect(retried.superseded).toHaveLength(2);
  });

  it('refuses to write once leadership is lost (the fence is inside the batch transaction)', async () => {
    const fenced = parts(100);
    const events = await eventsFor('st-batch', 1);
    expect(events).toHaveLength(9);
    await leadership.release();
    await expect(fenced.intake.record(events)).rejects.toBeInstanceOf(FencedError);
    const open = (await rungsOf('st-batch')).filter((r) => r.rung === 1);
    expect(open.every((r) => r.status === 'queued')).toBe(true);
  });
});
