export {
  gradCam,
  CamMethodSchema,
  DEFAULT_CAM,
  type CamMethod,
  type GradCamOptions,
  type GradCamResult,
} from './gradcam.js';
export {
  findLastConvLayer,
  findFineLayer,
  findNamedLayer,
  resolveCamLayer,
  type CamLayerChoice,
  type ExplainedLayer,
} from './layers.js';
export {
  DEFAULT_POINTING_TOLERANCE,
  centredGaussianMap,
  dilateMask,
  pointAt,
  pointingScore,
  summarisePointing,
  type PointingOptions,
  type PointingScore,
  type PointingSummary,
} from './pointing.js';
export { renderHeatmapOverlay, colormap, upsampleBilinear, type OverlayOptions } from './overlay.js';
export { explainScan, type ScanExplanation } from './explain-scan.js';
export {
  loadPointingCases,
  evaluatePointing,
  pointingReport,
  caseAccuracy,
  type PointingCase,
  type PointingReport,
} from './pointing-eval.js';
export { POINTING_CASES_PER_TRIAL, scorePointing, validationPointingCases } from './validation-pointing.js';
