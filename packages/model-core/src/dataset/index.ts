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
  decodeScan,
  isDecodedScan,
  MAX_INPUT_PIXELS,
  sniffImageFormat,
  decoderVersions,
  PreprocessingSchema,
  ResizeMethodSchema,
  ResizeKernelSchema,
  DEFAULT_RESIZE,
  DEFAULT_KERNEL,
  type Preprocessing,
  type PreprocessingInput,
  type ResizeMethod,
  type ResizeKernel,
  type ImageFormat,
  type DecodedScan,
} from './preprocess.js';
export {
  BundleManifestSchema,
  BundleOptionsSchema,
  BUNDLE_FORMAT_VERSION,
  type BundleManifest,
  type BundleOptions,
  type NearDuplicateReport,
  NearDuplicateReportSchema,
  type DuplicateGroup,
  type ManifestFile,
  type SkippedFile,
} from './manifest.js';
export { stratifiedGroupSplit, mulberry32, type Split, type SplitGroup } from './split.js';
export {
  perceptualHash,
  hashDistances,
  hashToHex,
  hashFromHex,
  UnionFind,
  DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  NEAR_DUPLICATE_METHOD,
  type PerceptualHash,
} from './near-duplicates.js';
export { groupForSplit, splitSummary } from './groups.js';
export { headBox, otsuThreshold, type Box } from './head-crop.js';
export { standardiseIntensity } from './intensity.js';
export {
  applyAcquisitionShift,
  ACQUISITION_SHIFTS,
  type AcquisitionShift,
  type NamedAcquisitionShift,
} from './acquisition-shift.js';
export { scanImageFolder, type ScannedFolder, type SourceFile } from './scan.js';
