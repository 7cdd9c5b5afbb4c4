import { z } from 'zod';

/**
 * Temperature scaling and the triage operating point, fitted on the validation split after
 * training and stored with the checkpoint (a checkpoint without it means T = 1, no referral).
 */
export const OperatingPointSchema = z.object({
  /** Predictions whose (calibrated) top probability is below this are referred. */
  threshold: z.number().min(0).max(1),
  /** The error rate the rule aimed for on the accepted (not referred) predictions. */
  targetError: z.number().min(0).max(1),
  /** The largest share of validation scans the rule may refer. */
  maxReferral: z.number().min(0).max(1),
  /** Share of validation scans referred at `threshold`. */
  referralRate: z.number().min(0).max(1),
  /** Error rate on the validation scans not referred. */
  acceptedErrorRate: z.number().min(0).max(1),
  /** The target was met within the referral cap. */
  targetMet: z.boolean(),
});
export type OperatingPoint = z.infer<typeof OperatingPointSchema>;

export const CalibrationSchema = z.object({
  /** Logits are divided by this before the softmax. */
  temperature: z.number().positive(),
  /** Expected calibration error (15 equal-width bins, top label) before and after scaling. */
  eceBefore: z.number().min(0),
  eceAfter: z.number().min(0),
  /** Mean negative log-likelihood before and after scaling. */
  nllBefore: z.number(),
  nllAfter: z.number(),
  /** Validation scans it was fitted on. */
  images: z.number().int().min(0),
  operatingPoint: OperatingPointSchema,
});
export type Calibration = z.infer<typeof CalibrationSchema>;
