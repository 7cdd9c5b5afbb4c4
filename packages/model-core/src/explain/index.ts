export { gradCam, findLastConvLayer, type GradCamResult } from './gradcam.js';
export { renderHeatmapOverlay, colormap, upsampleBilinear, type OverlayOptions } from './overlay.js';
export { explainScan, type ScanExplanation } from './explain-scan.js';
