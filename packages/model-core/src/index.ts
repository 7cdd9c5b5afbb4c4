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
export { PIXEL_SCALE, pixelsToTensor } from './training/batches.js';
export {
  saveCheckpoint,
  restoreCheckpoint,
  loadCheckpoint,
  readCheckpointState,
  copyCheckpoint,
  storeCalibration,
  CheckpointStateSchema,
  type CheckpointState,
  type LoadedCheckpoint,
} from './checkpoint/checkpoint.js';
export {
  predict,
  REFER,
  type Prediction,
  type PredictOptions,
  type ImageInput,
} from './inference/predict.js';
export {
  loadPredictor,
  disposePredictor,
  isEnsemble,
  type LoadedEnsemble,
  type LoadedPredictor,
} from './inference/ensemble.js';
export {
  calibrate,
  calibrateProbabilities,
  applyTemperature,
  fitTemperature,
  temperatureNll,
  expectedCalibrationError,
  chooseOperatingPoint,
  DEFAULT_MAX_REFERRAL,
  DEFAULT_TARGET_ERROR,
  ECE_BINS,
  type OperatingPointOptions,
} from './calibration/index.js';
export {
  gradCam,
  findLastConvLayer,
  findFineLayer,
  CamMethodSchema,
  DEFAULT_CAM,
  renderHeatmapOverlay,
  colormap,
  upsampleBilinear,
  explainScan,
  pointingScore,
  pointAt,
  dilateMask,
  summarisePointing,
  centredGaussianMap,
  DEFAULT_POINTING_TOLERANCE,
  loadPointingCases,
  evaluatePointing,
  pointingReport,
  caseAccuracy,
  scorePointing,
  validationPointingCases,
  POINTING_CASES_PER_TRIAL,
  type PointingCase,
  type PointingReport,
  type CamMethod,
  type CamLayerChoice,
  type GradCamOptions,
  type GradCamResult,
  type OverlayOptions,
  type ScanExplanation,
  type PointingScore,
  type PointingSummary,
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
export {
  evaluateCheckpointOnFolder,
  mapTestClasses,
  readTestFolder,
  scoreFromPredictions,
  scoreTestBundle,
  type TestFolder,
  type TestSetEvaluation,
} from './evaluation/index.js';
