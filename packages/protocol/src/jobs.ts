import { z } from 'zod';
import { HyperparametersSchema, PreprocessingHyperparametersSchema } from './hyperparameters.js';
import {
  EpochMetricsSchema,
  EvaluationSchema,
  PointingScoreSchema,
  TestSetScoresSchema,
} from './evaluation.js';
import { CalibrationSchema } from './calibration.js';

/** BullMQ queue carrying one job per trial rung, produced by the coordinator, consumed by workers. */
export const TRIAL_QUEUE = 'braintune-trials';

/** Deterministic BullMQ job id of a trial rung: re-enqueueing the same rung is a no-op. */
export function trialJobId(trialId: string, rung: number): string {
  return `${trialId}:${rung}`;
}

/**
 * Artifact key of one attempt at a trial rung: `checkpoints/<studyId>/trial-<index>/rung-<r>-<attemptId>`
 * (artifact keys allow no ':'). Each attempt trains in a key of its own, so two workers handed
 * the same rung (a stalled job delivered again) never write one directory; the coordinator
 * commits the attempt whose result closes the rung as the trial's checkpoint.
 */
export function attemptCheckpointKey(
  studyId: string,
  trialId: string,
  rung: number,
  attemptId: string,
): string {
  const index = trialId.slice(trialId.lastIndexOf(':') + 1);
  return `checkpoints/${studyId}/trial-${index}/rung-${rung}-${attemptId}`;
}

/**
 * A bundle's split at a glance (train output, study page): image counts per side, groups of
 * two or more images kept on one side, near-duplicate pairs and those across two classes.
 */
export const SplitSummarySchema = z.object({
  train: z.number().int().min(0),
  val: z.number().int().min(0),
  test: z.number().int().min(0),
  /** Near-duplicate threshold (max Hamming distance); null = byte-identical groups only. */
  nearDuplicateThreshold: z.number().int().min(0).nullable(),
  groups: z.number().int().min(0),
  largestGroup: z.number().int().min(0),
  nearDuplicatePairs: z.number().int().min(0),
  crossClassPairs: z.number().int().min(0),
});
export type SplitSummary = z.infer<typeof SplitSummarySchema>;
/** An external test set prepared with the training bundle's options (same pixels pipeline). */
export const TestSetRefSchema = z.object({
  name: z.string().min(1),
  /** sha256 of the test set's bundle at `datasets/<hash>/`; every image in it is scored. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type TestSetRef = z.infer<typeof TestSetRefSchema>;

export const DatasetRefSchema = z.object({
  /** sha256 of the bundle; the bundle lives at `datasets/<hash>/` in the artifact store. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  imageSize: z.number().int().positive(),
  classes: z.array(z.string()).min(2),
  /** Preprocessing the bundle's pixels went through (absent in refs stored before it existed = defaults). */
  preprocessing: PreprocessingHyperparametersSchema.optional(),
  /** How the bundle was split (absent in refs stored before near-duplicate grouping). */
  split: SplitSummarySchema.optional(),
  /** The study's external test sets, each prepared with this bundle's options. */
  testSets: z.array(TestSetRefSchema).optional(),
});
export type DatasetRef = z.infer<typeof DatasetRefSchema>;

export const TrialJobDataSchema = z.object({
  studyId: z.string().min(1),
  trialId: z.string().min(1),
  rung: z.number().int().min(0),
  hyperparameters: HyperparametersSchema,
  dataset: DatasetRefSchema,
  /** Epochs already trained by lower rungs (warm start); 0 for a fresh trial. */
  fromEpoch: z.number().int().min(0),
  /** Train until this many epochs in total. */
  toEpoch: z.number().int().min(1),
  /**
   * Artifact-store key of the trial's committed checkpoint (written by the attempt whose result
   * closed its last finished rung); the rung resumes from it and never writes it.
   */
  checkpointKey: z.string().min(1),
  /** Seed for weights, shuffling, augmentation and dropout. */
  seed: z.number().int(),
  /** External test sets the worker scores the trained model on after the rung (same image size). */
  testSets: z.array(TestSetRefSchema).default([]),
});
export type TrialJobData = z.infer<typeof TrialJobDataSchema>;

/** Progress a worker publishes after every epoch (BullMQ job progress). */
export const TrialProgressSchema = z.object({
  workerId: z.string(),
  /** The last finished epoch (absent until the attempt finished one). */
  epoch: EpochMetricsSchema.optional(),
  /**
   * Checkpoint keys of the job's attempts so far, oldest first, this one last (set as it
   * starts): a later attempt resumes from the most advanced of them.
   */
  attempts: z.array(z.string()).default([]),
});
export type TrialProgress = z.infer<typeof TrialProgressSchema>;

export const TrialOutcomeSchema = z.enum(['completed', 'diverged', 'cancelled']);
export type TrialOutcome = z.infer<typeof TrialOutcomeSchema>;

/** What a worker returns for one trial rung. */
export const TrialRungResultSchema = z.object({
  trialId: z.string(),
  rung: z.number().int().min(0),
  workerId: z.string(),
  outcome: TrialOutcomeSchema,
  /** Epochs trained in total when the rung ended. */
  epochsDone: z.number().int().min(0),
  /** The attempt's checkpoint: becomes the trial's checkpoint when this result closes the rung. */
  checkpointKey: z.string(),
  /**
   * Checkpoints of the earlier attempts at this rung (stalled or crashed) that this attempt
   * could resume from: once this result closes the rung nothing reads them, and the coordinator
   * deletes them (empty from older workers, whose losing attempts stay behind).
   */
  earlierAttemptKeys: z.array(z.string()).default([]),
  /** Every epoch of this rung (lower rungs were reported by their own jobs). */
  history: z.array(EpochMetricsSchema),
  evaluation: EvaluationSchema.nullable(),
  /** Temperature and operating point fitted on validation at the end of the rung (absent from older workers). */
  calibration: CalibrationSchema.nullable().optional(),
  /** Scores on the job's test sets, by name (empty when it had none or the rung diverged). */
  testScores: TestSetScoresSchema.default({}),
  /** The pointing game on validation scans with lesion masks (null: the data set has none). */
  pointing: PointingScoreSchema.nullable().default(null),
  error: z.string().nullable(),
});
export type TrialRungResult = z.infer<typeof TrialRungResultSchema>;
