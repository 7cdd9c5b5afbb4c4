import { z } from 'zod';
import { PreprocessingSchema, ResizeKernelSchema, ResizeMethodSchema } from './preprocess.js';

/** Bumped whenever the bundle layout or the pixel pipeline changes; part of the bundle hash. */
export const BUNDLE_FORMAT_VERSION = 1;
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

export const BundleManifestSchema = z.object({
  formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
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
  split: z.object({
    train: z.array(z.number().int().min(0)),
    val: z.array(z.number().int().min(0)),
    test: z.array(z.number().int().min(0)),
  }),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;
