import { InvalidInputError } from './errors.js';
import { z } from 'zod';

/**
 * Every tunable of a model-core hypermodel. This is the single definition shared by the
 * search space (coordinator), the job payload (queue) and the model builder (model-core).
 * Defaults are the seed study's CNN (see presets in model-core for named points).
 */
export const AugmentationSchema = z
  .object({
    /** Horizontal flip with probability 0.5. Brain slices are roughly left/right symmetric. */
    flip: z.boolean().default(false),
    /** Maximum absolute rotation in degrees (uniform in [-rotation, rotation]). */
    rotation: z.number().min(0).max(45).default(0),
    /** Maximum zoom fraction (scale uniform in [1 - zoom, 1 + zoom]). */
    zoom: z.number().min(0).max(0.5).default(0),
    /** Maximum contrast change fraction (factor uniform in [1 - contrast, 1 + contrast]). */
    contrast: z.number().min(0).max(0.9).default(0),
    // Acquisition shift (other scanners, sequences, framings). Every default is "off".
    /** Vertical flip with probability 0.5 (slices of other planes arrive upside down). */
    verticalFlip: z.boolean().default(false),
    /** Gamma: every pixel x becomes x^γ, γ log-uniform in [1/(1 + gamma), 1 + gamma]. */
    gamma: z.number().min(0).max(2).default(0),
    /** Brightness offset uniform in [-brightness, brightness] added to every pixel. */
    brightness: z.number().min(0).max(0.5).default(0),
    /**
     * Probability of a random smooth intensity curve (a cubic Bézier from (0,0) to (1,1), as in
     * Models Genesis); half of them are not monotonic. Simulates other MRI sequences, where other
     * tissues are bright.
     */
    curve: z.number().min(0).max(1).default(0),
    /**
     * Probability of a sequence swap: grey levels inverted inside the head (v ↦ 1 − v), the
     * background left black. T1 and T2/FLAIR scans differ roughly so (fluid dark vs bright); the
     * shared data set's classes are confounded with the sequence, which this breaks.
     */
    invert: z.number().min(0).max(1).default(0),
    /** Per-image weight w uniform in [-sharpen, blur] of x + w·(gauss_σ=1px(x) − x): w > 0 blurs. */
    blur: z.number().min(0).max(1).default(0),
    /** Unsharp-mask strength: the negative end of blur's weight range (w < 0 sharpens). */
    sharpen: z.number().min(0).max(2).default(0),
    /** Gaussian pixel noise; standard deviation per image uniform in [0, noise]. */
    noise: z.number().min(0).max(0.2).default(0),
    /** Random resized crop (torchvision's RandomResizedCrop): area fraction uniform in [cropScale, 1]. 1 = off. */
    cropScale: z.number().min(0.08).max(1).default(1),
    /** Random resized crop: aspect ratio log-uniform in [1/cropRatio, cropRatio] (torchvision: 4/3). 1 = square. */
    cropRatio: z.number().min(1).max(2).default(1),
  })
  .strict();
export type Augmentation = z.infer<typeof AugmentationSchema>;
export type AugmentationInput = z.input<typeof AugmentationSchema>;

/**
 * Pixel preprocessing that removes acquisition differences (framing, border, brightness) before
 * the model sees a scan. Each distinct value is its own dataset bundle, and `predict` repeats it
 * from the bundle's record. The defaults are the historic pipeline (no crop, raw intensities).
 */
export const IntensityStandardisationSchema = z.enum(['none', 'percentile', 'equalize', 'clahe']);
export type IntensityStandardisation = z.infer<typeof IntensityStandardisationSchema>;

export const DEFAULT_CROP_MARGIN = 0.05;

export const PreprocessingHyperparametersSchema = z
  .object({
    /** Crop to the bounding box of the head (non-background region), made square, before the resize. */
    headCrop: z.boolean().default(false),
    /** Margin added around the head box on every side, as a fraction of the box's longer side. */
    cropMargin: z.number().min(0).max(0.5).default(DEFAULT_CROP_MARGIN),
    /**
     * none; percentile: clip to p1–p99 of the head region and rescale to 0–255; equalize:
     * histogram equalisation of the head region; clahe: sharp's contrast-limited adaptive equalisation.
     */
    intensity: IntensityStandardisationSchema.default('none'),
  })
  .strict();
export type PreprocessingHyperparameters = z.infer<typeof PreprocessingHyperparametersSchema>;

/**
 * The same preprocessing in one canonical form: without head crop the margin changes no
 * pixel, so it is reset to its default (two such values share one dataset bundle).
 */
export function canonicalPreprocessing(
  input: z.input<typeof PreprocessingHyperparametersSchema> = {},
): PreprocessingHyperparameters {
  const p = PreprocessingHyperparametersSchema.parse(input);
  return p.headCrop ? p : { ...p, cropMargin: DEFAULT_CROP_MARGIN };
}

export const ModelFamilySchema = z.enum(['cnn', 'resnet', 'transfer']);
export type ModelFamily = z.infer<typeof ModelFamilySchema>;

export const OptimizerNameSchema = z.enum(['adam', 'sgd', 'rmsprop']);
export type OptimizerName = z.infer<typeof OptimizerNameSchema>;

/** `registry:NAME@vN`, `registry:NAME@ALIAS` or `artifact:KEY` (slash-separated names). */
export const BASE_MODEL_REF =
  /^(?:registry:([A-Za-z0-9][A-Za-z0-9._-]{0,63})@(?:v(\d{1,9})|([A-Za-z][A-Za-z0-9_-]{0,31}))|artifact:([A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*))$/;
/** A `.` or `..` path segment, which could step out of the store's folder. */
const DOT_SEGMENT = /(^|[:/])\.\.?($|\/)/;
const BASE_MODEL_REF_ERROR =
  'must be registry:NAME@vN, registry:NAME@ALIAS or artifact:KEY: a transfer base comes from the model registry or the artifact store, never from a URL or a file path';

export const HyperparametersSchema = z
  .object({
    family: ModelFamilySchema.default('cnn'),
    /** Input side length in pixels; each size is its own dataset bundle. */
    imageSize: z.number().int().min(16).max(512).default(64),
    /** Convolution blocks (cnn) or residual stages (resnet). */
    convBlocks: z.number().int().min(2).max(5).default(3),
    /** Filters of the first block; doubled per block. */
    baseFilters: z.number().int().min(4).max(64).default(16),
    kernelSize: z.union([z.literal(3), z.literal(5)]).default(3),
    /** Convolutions per cnn block before its pooling (1 = the seed; 2 = VGG-style). */
    convsPerBlock: z.number().int().min(1).max(3).default(1),
    /** Batch normalisation after every convolution. */
    convBatchNorm: z.boolean().default(false),
    /** Residual blocks per stage (resnet family only). */
    blocksPerStage: z.number().int().min(1).max(3).default(1),
    convDropout: z.number().min(0).max(0.8).default(0.2),
    /** How the last feature map becomes a vector: the seed flattens; global average pooling generalises better. */
    pooling: z.enum(['flatten', 'gap']).default('flatten'),
    /** Units of the first and second dense layer; 0 disables the second. */
    denseUnits: z.number().int().min(8).max(1024).default(64),
    dense2Units: z.number().int().min(0).max(512).default(16),
    denseBatchNorm: z.boolean().default(true),
    denseDropout: z.number().min(0).max(0.8).default(0),
    /** Momentum of the batch-norm moving statistics (Keras default 0.99). */
    bnMomentum: z.number().min(0).max(0.999).default(0.99),
    /** Re-estimate batch-norm statistics over training data before each evaluation ("precise BN"). */
    preciseBn: z.boolean().default(false),
    optimizer: OptimizerNameSchema.default('adam'),
    learningRate: z.number().positive().max(1).default(1e-3),
    /**
     * Learning-rate schedule: constant, or cosine decay from learningRate to 1% of it over
     * scheduleEpochs (then held). The horizon is a hyperparameter, not the rung's epoch
     * budget, so a run resumed from a lower rung follows the same schedule as one run.
     */
    lrSchedule: z.enum(['constant', 'cosine']).default('constant'),
    scheduleEpochs: z.number().int().min(1).max(1000).default(15),
    /** Momentum for sgd (ignored by adam). */
    momentum: z.number().min(0).max(0.999).default(0.9),
    batchSize: z.number().int().min(1).max(512).default(32),
    /** L2 penalty on kernel weights. */
    weightDecay: z.number().min(0).max(0.1).default(0),
    labelSmoothing: z.number().min(0).max(0.3).default(0),
    classWeighting: z.enum(['none', 'balanced']).default('none'),
    // Every field's own default (all off), spelled once in AugmentationSchema.
    augmentation: AugmentationSchema.default(() => AugmentationSchema.parse({})),
    /** Head crop and intensity standardisation; each distinct value is its own dataset bundle. */
    preprocessing: PreprocessingHyperparametersSchema.default({
      headCrop: false,
      cropMargin: DEFAULT_CROP_MARGIN,
      intensity: 'none',
    }),
    /**
     * transfer family: the feature extractor, from the model registry (`registry:NAME@vN`,
     * `registry:NAME@ALIAS`) or the artifact store (`artifact:KEY`, a tfjs model folder or a
     * checkpoint). Never a URL or a host path: whoever submits a study picks this value.
     */
    baseModelUrl: z
      .string()
      .refine((v) => BASE_MODEL_REF.test(v) && !DOT_SEGMENT.test(v), {
        error: BASE_MODEL_REF_ERROR,
      })
      .optional(),
    /** transfer family: keep the base model's weights fixed. */
    freezeBase: z.boolean().default(true),
  })
  .strict();

export type Hyperparameters = z.infer<typeof HyperparametersSchema>;

export type BaseModelRef =
  | { kind: 'registry'; model: string; version: number | null; alias: string | null }
  | { kind: 'artifact'; key: string };

/** Parses a validated `baseModelUrl`. */
export function parseBaseModelRef(ref: string): BaseModelRef {
  const m = BASE_MODEL_REF.exec(ref);
  if (!m || DOT_SEGMENT.test(ref))
    throw new InvalidInputError(`baseModelUrl ${ref}: ${BASE_MODEL_REF_ERROR}`);
  if (m[4] !== undefined) return { kind: 'artifact', key: m[4] };
  const version = m[2] !== undefined ? Number(m[2]) : null;
  return { kind: 'registry', model: m[1]!, version, alias: version === null ? (m[3] ?? null) : null };
}
export type HyperparametersInput = z.input<typeof HyperparametersSchema>;

/** Parses partial hyperparameters, filling every default. Throws a ZodError naming the field. */
export function resolveHyperparameters(input: HyperparametersInput = {}): Hyperparameters {
  return HyperparametersSchema.parse(input);
}
