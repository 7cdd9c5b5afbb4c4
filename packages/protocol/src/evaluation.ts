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
