export {};
// Hypermodels, training, checkpoints, inference (models/, training/, checkpoint/, inference/, augment/).
export { buildModel, type ModelShape } from './models/build.js';
export {
  PRESETS,
  PRESET_NAMES,
  DEFAULT_PRESET,
  isPresetName,
  presetHyperparameters,
  type PresetName,
} from './models/presets.js';
export { SeededDropout, setDropoutStep } from './models/seeded-dropout.js';
export { loadLayersModelFromFile, saveLayersModelToDir } from './models/model-io.js';
export { loadBaseModel, baseModelKey } from './models/base-model.js';
export { augmentBatch, isAugmenting } from './augment/augment.js';
export { train, balancedClassWeights, type TrainOptions, type TrainResult } from './training/train.js';
export { evaluateModel, predictProbabilities, EVAL_BATCH_SIZE } from './training/evaluate.js';
export { recalibrateBatchNorm } from './training/precise-bn.js';
export { createOptimizer, learningRateAt } from './training/optimizer.js';
export { Rng } from './training/rng.js';
export { PIXEL_SCALE } from './training/batches.js';
export {
  saveCheckpoint,
  restoreCheckpoint,
  loadCheckpoint,
  readCheckpointState,
  CheckpointStateSchema,
  type CheckpointState,
  type LoadedCheckpoint,
} from './checkpoint/checkpoint.js';
export { predict, type Prediction, type ImageInput } from './inference/predict.js';
export {
  gradCam,
  findLastConvLayer,
  renderHeatmapOverlay,
  colormap,
  explainScan,
  type GradCamResult,
  type OverlayOptions,
  type ScanExplanation,
} from './explain/index.js';
export {
  initBackend,
  BACKEND_NAMES,
  registerWasmTrainingKernels,
  BRAINTUNE_WASM_KERNEL_NAMES,
  type BackendInfo,
  type BackendName,
  type InitBackendOptions,
} from './backend/index.js';
