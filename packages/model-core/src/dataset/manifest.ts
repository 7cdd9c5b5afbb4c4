import { z } from 'zod';
import { DEFAULT_CROP_MARGIN, IntensityStandardisationSchema } from '@braintune/protocol';
import { PreprocessingSchema, ResizeKernelSchema, ResizeMethodSchema } from './preprocess.js';

/**
 * Bumped whenever the bundle layout or the pixel pipeline changes; part of the bundle hash.
 * 2: near-duplicate groups (perceptual hashes) in the split, head crop and intensity options.
 * Bundles of version 1 still load (their new fields take the defaults of the old behaviour).
 */
export const BUNDLE_FORMAT_VERSION = 2;
export const MANIFEST_FILE = 'manifest.json';
export const IMAGES_FILE = 'images.u8';
export const LABELS_FILE = 'labels.u8';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const CrossClassDuplicatePolicySchema = z.enum(['skip', 'keep']);
export type CrossClassDuplicatePolicy = z.infer<typeof CrossClassDuplicatePolicySchema>;

/** Every option that changes the bundle's bytes (all of it goes into the hash). */
export const BundleOptionsSchema = z.object({
  imageSize: z.number().int().min(8).max(1024),
  resize: ResizeMethodSchema,
  kernel: ResizeKernelSchema,
  valFraction: z.number().min(0).max(0.9),
  testFraction: z.number().min(0).max(0.9),
  seed: z.number().int(),
  /** What to do with byte-identical files found in two or more classes (contradicting labels). */
  crossClassDuplicates: CrossClassDuplicatePolicySchema,
  /**
   * Images whose dHash and pHash both lie within this Hamming distance are one split group;
   * null = byte-identical groups only (version-1 bundles).
   */
  nearDuplicateThreshold: z.number().int().min(0).max(64).nullable().default(null),
  headCrop: z.boolean().default(false),
  cropMargin: z.number().min(0).max(0.5).default(DEFAULT_CROP_MARGIN),
  intensity: IntensityStandardisationSchema.default('none'),
});
export type BundleOptions = z.infer<typeof BundleOptionsSchema>;

export const ManifestFileSchema = z.object({
  index: z.number().int().min(0),
  path: z.string(),
  sha256: Sha256,
  label: z.number().int().min(0),
  format: z.string(),
  width: z.number().int().min(0),
  height: z.number().int().min(0),
  channels: z.number().int().min(0),
  /** Perceptual hash, 32 hex digits: dHash then pHash (absent when near-duplicates are off). */
  phash: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  /** Split group: files with the same group id are always on the same side. */
  group: z.number().int().min(0).optional(),
});
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

export const SkippedFileSchema = z.object({
  path: z.string(),
  sha256: Sha256.nullable(),
  reason: z.string(),
});
export type SkippedFile = z.infer<typeof SkippedFileSchema>;

export const DuplicateGroupSchema = z.object({
  sha256: Sha256,
  /** Every copy's path, including copies that were skipped as cross-class conflicts. */
  paths: z.array(z.string()).min(2),
  /** Bundle indices of the copies that are in the bundle. */
  indices: z.array(z.number().int().min(0)),
  classes: z.array(z.string()).min(1),
  crossClass: z.boolean(),
});
export type DuplicateGroup = z.infer<typeof DuplicateGroupSchema>;

/** What the near-duplicate grouping found (the split deals each group out whole). */
export const NearDuplicateReportSchema = z.object({
  /** `dhash+phash` (both within the threshold), or `sha256` when only byte-identical files are grouped. */
  method: z.enum(['dhash+phash', 'sha256']),
  threshold: z.number().int().min(0).nullable(),
  /** Groups of two or more images. */
  groups: z.number().int().min(0),
  /** Group size → number of groups of that size (size 1 = images with no near duplicate). */
  groupSizes: z.record(z.string(), z.number().int().min(0)),
  largestGroup: z.object({ size: z.number().int().min(0), paths: z.array(z.string()) }),
  /** Pairs of distinct files (different bytes) within the threshold. */
  pairs: z.number().int().min(0),
  /** Those pairs whose two files are in different classes: possible label conflicts. */
  crossClassPairs: z.number().int().min(0),
  /** The first cross-class pairs, by path (at most 200; `crossClassPairs` counts all). */
  crossClassExamples: z.array(
    z.object({
      paths: z.tuple([z.string(), z.string()]),
      classes: z.tuple([z.string(), z.string()]),
      distance: z.number().int().min(0),
    }),
  ),
});
export type NearDuplicateReport = z.infer<typeof NearDuplicateReportSchema>;

export const BundleManifestSchema = z.object({
  formatVersion: z.union([z.literal(1), z.literal(BUNDLE_FORMAT_VERSION)]),
  hash: Sha256,
  createdAt: z.string(),
  /** Where the images came from (informational: the hash depends on content, not on paths). */
  source: z.string(),
  classes: z.array(z.string()).min(1),
  counts: z.record(z.string(), z.number().int().min(0)),
  count: z.number().int().min(0),
  imageSize: z.number().int().min(1),
  preprocessing: PreprocessingSchema,
  decoder: z.object({ sharp: z.string(), vips: z.string() }),
  options: BundleOptionsSchema,
  storage: z.object({
    images: z.object({
      file: z.literal(IMAGES_FILE),
      shape: z.array(z.number().int()).length(3),
      sha256: Sha256,
    }),
    labels: z.object({
      file: z.literal(LABELS_FILE),
      shape: z.array(z.number().int()).length(1),
      sha256: Sha256,
    }),
  }),
  files: z.array(ManifestFileSchema),
  skipped: z.array(SkippedFileSchema),
  duplicateGroups: z.array(DuplicateGroupSchema),
  /** Absent in version-1 bundles. */
  nearDuplicates: NearDuplicateReportSchema.optional(),
  split: z.object({
    train: z.array(z.number().int().min(0)),
    val: z.array(z.number().int().min(0)),
    test: z.array(z.number().int().min(0)),
  }),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;
