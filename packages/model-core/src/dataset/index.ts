export type { DatasetBundle } from './types.js';
export {
  prepareDataset,
  bundleHash,
  PrepareOptionsSchema,
  type PrepareDatasetOptions,
  type PrepareDatasetResult,
  type PrepareOptionsInput,
} from './prepare.js';
export { loadBundle, readBundleManifest, CorruptBundleError } from './bundle.js';
export {
  preprocessImage,
  MAX_INPUT_PIXELS,
  sniffImageFormat,
  decoderVersions,
  PreprocessingSchema,
  ResizeMethodSchema,
  ResizeKernelSchema,
  DEFAULT_RESIZE,
  DEFAULT_KERNEL,
  type Preprocessing,
  type ResizeMethod,
  type ResizeKernel,
  type ImageFormat,
} from './preprocess.js';
export {
  BundleManifestSchema,
  BundleOptionsSchema,
  BUNDLE_FORMAT_VERSION,
  type BundleManifest,
  type BundleOptions,
  type DuplicateGroup,
  type ManifestFile,
  type SkippedFile,
} from './manifest.js';
export { stratifiedGroupSplit, mulberry32, type Split, type SplitGroup } from './split.js';
