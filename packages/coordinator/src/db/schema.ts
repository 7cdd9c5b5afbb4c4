/**
 * The Postgres schema: the single source of truth about studies, trials and the model
 * registry. Redis only holds work in flight; everything here survives it.
 *
 * Idempotency lives in the unique constraints: a trial rung is identified by its BullMQ
 * job id (`trialJobId(trialId, rung)`), an epoch by (trial, epoch), an evaluation by its
 * job id, so a result delivered twice is recorded once (INSERT … ON CONFLICT DO NOTHING).
 */
import { sql } from 'drizzle-orm';
import type { EnsembleMember } from '../registry/ensemble.js';
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type {
  Calibration,
  ClassificationReport,
  DatasetRef,
  EpochMetrics,
  Hyperparameters,
  PointingScore,
  TestSetScores,
} from '@braintune/protocol';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => ts('created_at').notNull().defaultNow();

/** preparing → running → completed | cancelled | failed */
export type StudyStateName = 'preparing' | 'running' | 'completed' | 'cancelled' | 'failed';

export const studies = pgTable('studies', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** The validated study config with defaults applied (what the study runs with). */
  config: jsonb('config').$type<Record<string, unknown>>().notNull(),
  /** The config as the user submitted it (parsed YAML/JSON), re-validated after restarts. */
  source: jsonb('source').$type<unknown>().notNull(),
  state: text('state').$type<StudyStateName>().notNull().default('preparing'),
  /** The prepared dataset bundle (null while preparing); the first of `datasets`. */
  dataset: jsonb('dataset').$type<DatasetRef>(),
  /** One bundle per image size the search space can choose. */
  datasets: jsonb('datasets').$type<DatasetRef[]>(),
  /** Trial rungs of the whole plan when known in advance (Hyperband), else null. */
  plannedRungs: integer('planned_rungs'),
  error: text('error'),
  /**
   * Why a study completed before its plan ran out, in words (the search space was smaller than
   * the plan, a budget ran out); null when the plan ran to its end or the study has not ended.
   */
  endReason: text('end_reason'),
  createdAt: createdAt(),
  startedAt: ts('started_at'),
  finishedAt: ts('finished_at'),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

export type TrialStatusName = 'running' | 'paused' | 'completed' | 'stopped' | 'failed' | 'cancelled';

export const trials = pgTable(
  'trials',
  {
    /** `<studyId>:<index>`, so the BullMQ job id `<trialId>:<rung>` stays readable. */
    id: text('id').primaryKey(),
    studyId: text('study_id')
      .notNull()
      .references(() => studies.id, { onDelete: 'cascade' }),
    index: integer('index').notNull(),
    bracket: integer('bracket'),
    iteration: integer('iteration'),
    hyperparameters: jsonb('hyperparameters').$type<Hyperparameters>().notNull(),
    hpHash: text('hp_hash').notNull(),
    // uint32 seeds exceed Postgres' signed integer.
    seed: bigint('seed', { mode: 'number' }).notNull(),
    checkpointKey: text('checkpoint_key').notNull(),
    status: text('status').$type<TrialStatusName>().notNull().default('running'),
    currentRung: integer('current_rung').notNull().default(0),
    epochsDone: integer('epochs_done').notNull().default(0),
    workerId: text('worker_id'),
    /** Objective of the last finished rung, oriented so that larger is better. */
    score: doublePrecision('score'),
    meetsConstraints: boolean('meets_constraints'),
    valMacroF1: doublePrecision('val_macro_f1'),
    valAccuracy: doublePrecision('val_accuracy'),
    valLoss: doublePrecision('val_loss'),
    /** External test-set scores of the last finished rung, by name; shown beside `score`, never in it. */
    testScores: jsonb('test_scores').$type<TestSetScores>(),
    /** The pointing game of the last finished rung (phantom data sets with lesion masks); beside `score`, never in it. */
    pointing: jsonb('pointing').$type<PointingScore>(),
    error: text('error'),
    /**
     * The sampler's snapshot: the largest `trial_rungs.result_seq` of the study when this trial was
     * proposed (set by a trigger, see drizzle/0004_sampler_history.sql). Its configuration was
     * fitted on exactly the rungs with result_seq ≤ history_seq (scheduling/sampler.ts).
     */
    historySeq: bigint('history_seq', { mode: 'number' }),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('trials_study_index_uq').on(t.studyId, t.index),
    uniqueIndex('trials_study_hp_hash_uq').on(t.studyId, t.hpHash),
    // The leaderboard order (read-model/ranking.ts, same expressions): a page or the best trial
    // of a 10,000-trial study is an index scan, not a sort of the whole study.
    index('trials_study_rank_idx').on(
      t.studyId,
      sql`(${t.score} IS NULL)`,
      sql`(${t.meetsConstraints} IS TRUE) DESC`,
      t.score.desc().nullsLast(),
      t.epochsDone.desc(),
      t.index,
    ),
  ],
);

export type RungStatusName = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export const trialRungs = pgTable(
  'trial_rungs',
  {
    id: serial('id').primaryKey(),
    trialId: text('trial_id')
      .notNull()
      .references(() => trials.id, { onDelete: 'cascade' }),
    studyId: text('study_id').notNull(),
    rung: integer('rung').notNull(),
    fromEpoch: integer('from_epoch').notNull(),
    toEpoch: integer('to_epoch').notNull(),
    status: text('status').$type<RungStatusName>().notNull().default('queued'),
    score: doublePrecision('score'),
    meetsConstraints: boolean('meets_constraints').notNull().default(false),
    /** External test-set scores of the model this rung produced, by name. */
    testScores: jsonb('test_scores').$type<TestSetScores>(),
    /** Whether the explanations of the model this rung produced point at the lesion. */
    pointing: jsonb('pointing').$type<PointingScore>(),
    /** trialJobId(trialId, rung): the BullMQ job id and the idempotency key of its results. */
    jobId: text('job_id').notNull(),
    workerId: text('worker_id'),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    queuedAt: ts('queued_at').notNull().defaultNow(),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    /** Order in which rung results were recorded (a sequence, stamped by a trigger when the rung ends). */
    resultSeq: bigint('result_seq', { mode: 'number' }),
  },
  (t) => [
    uniqueIndex('trial_rungs_job_id_uq').on(t.jobId),
    index('trial_rungs_study_result_seq_idx').on(t.studyId, t.resultSeq),
    uniqueIndex('trial_rungs_trial_rung_uq').on(t.trialId, t.rung),
    index('trial_rungs_study_status_idx').on(t.studyId, t.status),
  ],
);

export const epochMetrics = pgTable(
  'epoch_metrics',
  {
    id: serial('id').primaryKey(),
    trialId: text('trial_id')
      .notNull()
      .references(() => trials.id, { onDelete: 'cascade' }),
    studyId: text('study_id').notNull(),
    rung: integer('rung').notNull(),
    epoch: integer('epoch').notNull(),
    loss: doublePrecision('loss').notNull(),
    accuracy: doublePrecision('accuracy').notNull(),
    valLoss: doublePrecision('val_loss').notNull(),
    valAccuracy: doublePrecision('val_accuracy').notNull(),
    valMacroF1: doublePrecision('val_macro_f1').notNull(),
    valRecall: jsonb('val_recall').$type<EpochMetrics['valRecall']>().notNull(),
    trainImagesPerSecond: doublePrecision('train_images_per_second').notNull(),
    durationMs: doublePrecision('duration_ms').notNull(),
    workerId: text('worker_id'),
    recordedAt: createdAt(),
  },
  (t) => [
    uniqueIndex('epoch_metrics_trial_epoch_uq').on(t.trialId, t.epoch),
    index('epoch_metrics_study_idx').on(t.studyId),
  ],
);

export const evaluations = pgTable(
  'evaluations',
  {
    id: serial('id').primaryKey(),
    trialId: text('trial_id')
      .notNull()
      .references(() => trials.id, { onDelete: 'cascade' }),
    studyId: text('study_id').notNull(),
    rung: integer('rung').notNull(),
    jobId: text('job_id').notNull(),
    epoch: integer('epoch').notNull(),
    classes: jsonb('classes').$type<string[]>().notNull(),
    /** confusionMatrix[trueClass][predictedClass] */
    confusionMatrix: jsonb('confusion_matrix').$type<number[][]>().notNull(),
    report: jsonb('report').$type<ClassificationReport>().notNull(),
    loss: doublePrecision('loss').notNull(),
    /** Temperature and operating point the worker fitted at the end of the rung (null: none). */
    calibration: jsonb('calibration').$type<Calibration>(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('evaluations_job_id_uq').on(t.jobId),
    uniqueIndex('evaluations_trial_rung_uq').on(t.trialId, t.rung),
  ],
);

/** Mirror of the workers' Redis heartbeats (workers never write here themselves). */
export const workers = pgTable('workers', {
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid'),
  backend: text('backend').notNull(),
  device: text('device').notNull(),
  concurrency: integer('concurrency').notNull().default(1),
  startedAt: ts('started_at'),
  lastHeartbeat: ts('last_heartbeat').notNull(),
  currentTrial: text('current_trial'),
  imagesPerSecond: doublePrecision('images_per_second'),
});

// ---------------------------------------------------------------- model registry

export const models = pgTable('models', {
  name: text('name').primaryKey(),
  description: text('description').notNull().default(''),
  createdAt: createdAt(),
});

export const modelVersions = pgTable(
  'model_versions',
  {
    id: serial('id').primaryKey(),
    modelName: text('model_name')
      .notNull()
      .references(() => models.name, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    studyId: text('study_id').references(() => studies.id, { onDelete: 'set null' }),
    trialId: text('trial_id').references(() => trials.id, { onDelete: 'set null' }),
    /** `registry/<model>/v<N>` in the artifact store. */
    artifactKey: text('artifact_key').notNull(),
    metrics: jsonb('metrics')
      .$type<Record<string, unknown>>()
      .notNull()
      .default(sql`'{}'::jsonb`),
    hyperparameters: jsonb('hyperparameters').$type<Record<string, unknown>>().notNull(),
    classes: jsonb('classes').$type<string[]>().notNull(),
    imageSize: integer('image_size').notNull(),
    preprocessing: jsonb('preprocessing').$type<Record<string, unknown>>().notNull(),
    /** An ensemble's members, best first (registry/ensemble.ts); null for a single checkpoint. */
    members: jsonb('members').$type<EnsembleMember[]>(),
    /** The trial's external test-set scores, copied on promote (kept apart from `metrics`). */
    testScores: jsonb('test_scores').$type<TestSetScores>(),
    createdAt: createdAt(),
    createdBy: text('created_by').notNull().default('unknown'),
  },
  (t) => [uniqueIndex('model_versions_model_version_uq').on(t.modelName, t.version)],
);

export const modelAliases = pgTable(
  'model_aliases',
  {
    modelName: text('model_name')
      .notNull()
      .references(() => models.name, { onDelete: 'cascade' }),
    alias: text('alias').notNull(),
    version: integer('version').notNull(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    updatedBy: text('updated_by').notNull().default('unknown'),
  },
  (t) => [primaryKey({ columns: [t.modelName, t.alias] })],
);

export const aliasEvents = pgTable(
  'alias_events',
  {
    id: serial('id').primaryKey(),
    modelName: text('model_name')
      .notNull()
      .references(() => models.name, { onDelete: 'cascade' }),
    alias: text('alias').notNull(),
    fromVersion: integer('from_version'),
    toVersion: integer('to_version').notNull(),
    at: ts('at').notNull().defaultNow(),
    by: text('by').notNull().default('unknown'),
  },
  (t) => [index('alias_events_model_alias_idx').on(t.modelName, t.alias)],
);
