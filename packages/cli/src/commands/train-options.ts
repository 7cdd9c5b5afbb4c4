import {
  InvalidInputError,
  IntensityStandardisationSchema,
  PreprocessingHyperparametersSchema,
  type PreprocessingHyperparameters,
} from '@braintune/protocol';

export interface PreprocessingFlags {
  headCrop?: boolean;
  cropMargin?: string;
  intensity?: string;
}

/** `--head-crop`, `--crop-margin`, `--intensity` as hyperparameter overrides (only those given). */
export function preprocessingFlags(opts: PreprocessingFlags): Partial<PreprocessingHyperparameters> {
  const out: Partial<PreprocessingHyperparameters> = {};
  if (opts.headCrop) out.headCrop = true;
  if (opts.cropMargin !== undefined) {
    const margin = PreprocessingHyperparametersSchema.shape.cropMargin.safeParse(Number(opts.cropMargin));
    if (!margin.success || opts.cropMargin.trim() === '')
      throw new InvalidInputError(
        `--crop-margin must be a fraction from 0 to 0.5, got "${opts.cropMargin}"`,
        'e.g. --crop-margin 0.05',
      );
    out.cropMargin = margin.data;
  }
  if (opts.intensity !== undefined) {
    const method = IntensityStandardisationSchema.safeParse(opts.intensity);
    if (!method.success)
      throw new InvalidInputError(
        `--intensity must be one of ${IntensityStandardisationSchema.options.join(', ')}, got "${opts.intensity}"`,
        'e.g. --intensity percentile',
      );
    out.intensity = method.data;
  }
  return out;
}

/** `--near-duplicate-threshold N|off`: undefined = the default, null = byte-identical copies only. */
export function nearDuplicateThresholdOption(raw: string | undefined): number | null | undefined {
  if (raw === undefined) return undefined;
  if (raw.trim().toLowerCase() === 'off') return null;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < 0 || value > 64)
    throw new InvalidInputError(
      `--near-duplicate-threshold must be an integer from 0 to 64 or "off", got "${raw}"`,
      'e.g. --near-duplicate-threshold 8 (bits), or off to group byte-identical copies only',
    );
  return value;
}
