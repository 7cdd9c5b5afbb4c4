import { z } from 'zod';
import { HyperparametersSchema } from '@braintune/protocol';

/** One epoch of a recorded training (validation metrics after that epoch). */
export const RecordedEpochSchema = z.object({
  epoch: z.number().int().min(1),
  loss: z.number(),
  valLoss: z.number(),
  valAccuracy: z.number(),
  valMacroF1: z.number(),
});

export const RecordedCurveSchema = z.object({
  /** Trial index of the configuration in a random study with the file's seed and space. */
  index: z.number().int().min(0),
  seed: z.number().int(),
  hyperparameters: HyperparametersSchema,
  outcome: z.string(),
  cpuSeconds: z.number(),
  epochs: z.array(RecordedEpochSchema),
});
export type RecordedCurve = z.infer<typeof RecordedCurveSchema>;

/** bench/data/curves.json: what bench/record-curves.ts wrote and bench/search-sim.ts replays. */
export const CurvesFileSchema = z.object({
  format: z.literal(1),
  /** Content hash of the data set bundle the curves were trained on. */
  datasetHash: z.string().min(1),
  imageSize: z.number().int(),
  epochs: z.number().int().min(1),
  studySeed: z.number().int(),
  /** The raw search space (bench/data/search-space.yaml, scheduleEpochs set to `epochs`). */
  searchSpace: z.record(z.string(), z.unknown()),
  curves: z.array(RecordedCurveSchema),
});
export type CurvesFile = z.infer<typeof CurvesFileSchema>;
