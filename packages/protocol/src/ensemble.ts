import { z } from 'zod';

/** File at the root of an ensemble's directory (a registry version of kind "ensemble"). */
export const ENSEMBLE_MANIFEST = 'ensemble.json';

/**
 * An ensemble version: K member checkpoints in `member-<i>/` (each a complete checkpoint
 * directory with its own preprocessing and calibration). Predictions average the members'
 * calibrated probabilities; a scan is referred when the top averaged probability is below
 * `threshold`.
 */
export const EnsembleManifestSchema = z.object({
  format: z.literal(1),
  classes: z.array(z.string()).min(2),
  /** Mean of the members' validation thresholds (0 for a member without calibration). */
  threshold: z.number().min(0).max(1),
  members: z
    .array(
      z.object({
        dir: z.string().regex(/^member-\d+$/),
        trialId: z.string().nullable(),
        /** 1 = the study's best trial. */
        rank: z.number().int().min(1),
      }),
    )
    .min(2),
});
export type EnsembleManifest = z.infer<typeof EnsembleManifestSchema>;
