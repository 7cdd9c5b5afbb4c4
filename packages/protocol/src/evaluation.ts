import { z } from 'zod';

export const ClassMetricsSchema = z.object({
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  support: z.number().int(),
});
export type ClassMetrics = z.infer<typeof ClassMetricsSchema>;

/** scikit-learn's classification_report as data (zero division -> 0). */
export const ClassificationReportSchema = z.object({
  classes: z.array(z.string()),
  perClass: z.record(z.string(), ClassMetricsSchema),
  accuracy: z.number(),
  macroAvg: ClassMetricsSchema,
  weightedAvg: ClassMetricsSchema,
});
export type ClassificationReport = z.infer<typeof ClassificationReportSchema>;

export const EvaluationSchema = z.object({
  classes: z.array(z.string()),
  /** confusionMatrix[trueClass][predictedClass], as scikit-learn's confusion_matrix. */
  confusionMatrix: z.array(z.array(z.number().int())),
  report: ClassificationReportSchema,
  loss: z.number(),
});
export type Evaluation = z.infer<typeof EvaluationSchema>;

/** One finished epoch, as reported by model-core's training loop and as BullMQ job progress. */
export const EpochMetricsSchema = z.object({
  epoch: z.number().int().min(1),
  loss: z.number(),
  accuracy: z.number(),
  valLoss: z.number(),
  valAccuracy: z.number(),
  valMacroF1: z.number(),
  /** Recall per class name on the validation split. */
  valRecall: z.record(z.string(), z.number()),
  trainImagesPerSecond: z.number(),
  durationMs: z.number(),
});
export type EpochMetrics = z.infer<typeof EpochMetricsSchema>;

/**
 * A model's score on one external test set (an ImageFolder kept apart from training). Shown
 * beside the objective, never mixed into it. Rows/columns of `confusionMatrix` and the keys
 * of `perClass` follow the model's classes; `macroF1` averages only the classes the test set
 * contains (a test set may hold a subset of the model's classes).
 */
export const TestSetScoreSchema = z.object({
  accuracy: z.number(),
  macroF1: z.number(),
  perClass: z.record(z.string(), ClassMetricsSchema),
  confusionMatrix: z.array(z.array(z.number().int())),
  images: z.number().int().min(0),
});
export type TestSetScore = z.infer<typeof TestSetScoreSchema>;

/**
 * Whether a model's explanations point at the lesion (the pointing game), on the validation
 * scans whose lesion masks are known (phantom data sets made with `make-phantoms --masks`):
 * the share of scans whose heatmap peak falls inside the lesion core, and the mean share of
 * the heatmap's mass inside it. `chance` is what a uniformly random map scores. Shown beside the
 * objective, never mixed into it.
 */
export const PointingScoreSchema = z.object({
  scans: z.number().int().min(1),
  pointingAccuracy: z.number().min(0).max(1),
  massInside: z.number().min(0).max(1),
  chance: z.object({ pointingAccuracy: z.number().min(0).max(1), massInside: z.number().min(0).max(1) }),
  /** The explanation scored: method and layer (the dashboard's default explanation). */
  method: z.string(),
  layer: z.string(),
});
export type PointingScore = z.infer<typeof PointingScoreSchema>;

/** Test-set scores of one trained model, keyed by test-set name. */
export const TestSetScoresSchema = z.record(z.string(), TestSetScoreSchema);
export type TestSetScores = z.infer<typeof TestSetScoresSchema>;
