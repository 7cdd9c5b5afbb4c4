import { z } from 'zod';
import { PreprocessingHyperparametersSchema } from './hyperparameters.js';
import { DatasetRefSchema } from './jobs.js';

/**
 * Dataset preparation as a worker job: the coordinator never decodes an image. It enqueues one
 * prepare job per study on PREPARE_QUEUE; a worker builds every bundle the study needs with
 * model-core and returns them as the job's return value, which the coordinator reads on its
 * tick while the study is `preparing`.
 */
export const PREPARE_QUEUE = 'braintune-prepare';

/** Deterministic job id: re-enqueueing a study's preparation (every tick) is a no-op. */
export function prepareJobId(studyId: string): string {
  return `prepare-${studyId}`;
}

export const PrepareJobDataSchema = z.object({
  studyId: z.string().min(1),
  dataset: z.object({
    /**
     * The study's `dataset.path`, resolved by the coordinator. The worker confines it to its own
     * data roots (BRAINTUNE_DATA_ROOTS) again before reading, and messages show it as written here.
     */
    path: z.string().min(1),
    valFraction: z.number().min(0).max(0.9),
    seed: z.number().int(),
    /** Max Hamming distance of near-duplicates; null = byte-identical groups only; absent = model-core's default. */
    nearDuplicateThreshold: z.number().int().min(0).max(64).nullable().optional(),
  }),
  /** One bundle per entry: every (imageSize, preprocessing) the study's trials may use. */
  bundles: z
    .array(
      z.object({ imageSize: z.number().int().positive(), preprocessing: PreprocessingHyperparametersSchema }),
    )
    .min(1),
  /** `evaluation.testSets`, each prepared with every training bundle's options. */
  testSets: z.array(z.object({ name: z.string().min(1), path: z.string().min(1) })).default([]),
});
export type PrepareJobData = z.infer<typeof PrepareJobDataSchema>;

/** One prepared training bundle: what the study records, plus what the coordinator logs. */
export const PreparedBundleSchema = z.object({
  dataset: DatasetRefSchema,
  /** An identical bundle already existed in the artifact store: nothing was decoded. */
  reused: z.boolean(),
  images: z.number().int().min(0),
});
export type PreparedBundle = z.infer<typeof PreparedBundleSchema>;

/**
 * A prepare job's return value. A data set the user must fix (empty class folder, a test set's
 * unknown class, a path outside the data roots) is an answer, not a job failure: `error` is
 * already fit for `studies.error` (no host path). Anything else fails the job, which is retried.
 */
export const PrepareResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), bundles: z.array(PreparedBundleSchema).min(1) }),
  z.object({ ok: z.literal(false), error: z.string().min(1) }),
]);
export type PrepareResult = z.infer<typeof PrepareResultSchema>;
