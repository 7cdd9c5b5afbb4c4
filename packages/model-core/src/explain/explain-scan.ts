import sharp from 'sharp';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { preprocessImage, type DecodedScan } from '../dataset/preprocess.js';
import { predict, type Prediction } from '../inference/predict.js';
import { pixelsToTensor } from '../training/batches.js';
import { gradCam, type CamMethod, type GradCamOptions } from './gradcam.js';
import { renderHeatmapOverlay } from './overlay.js';

export interface ScanExplanation {
  prediction: Prediction;
  gradcam: {
    layerName: string;
    classIndex: number;
    method: CamMethod;
    width: number;
    height: number;
    heatmap: Float32Array;
  };
  /** The scan as the model sees it (preprocessed greyscale, imageSize²), PNG. */
  modelInputPng: Buffer;
  /** Grad-CAM of the predicted class over the model's view of the scan, PNG. */
  overlayPng: Buffer;
}

/**
 * Classifies one scan with a loaded checkpoint (model-core's `predict`, so the numbers are
 * exactly the ones `braintune predict` gives) and explains the predicted class with
 * Grad-CAM, drawn over the preprocessed image: whatever the resize mode (letterbox, crop,
 * stretch), the map lines up with the pixels the model actually looked at.
 */
export async function explainScan(
  loaded: LoadedCheckpoint,
  scan: Buffer | DecodedScan,
  options: { size?: number; cam?: GradCamOptions } = {},
): Promise<ScanExplanation> {
  const prediction = await predict(loaded, scan);
  const { state } = loaded;
  const pixels = await preprocessImage(scan, state.preprocessing);
  const input = pixelsToTensor([pixels], state.imageSize);
  let cam;
  try {
    cam = gradCam(loaded.model, input, state.classes.indexOf(prediction.predicted), options.cam);
  } finally {
    input.dispose();
  }
  const modelInputPng = await sharp(Buffer.from(pixels), {
    raw: { width: state.imageSize, height: state.imageSize, channels: 1 },
  })
    .png()
    .toBuffer();
  const overlayPng = await renderHeatmapOverlay(modelInputPng, cam, { size: options.size ?? 384 });
  return {
    prediction,
    gradcam: {
      layerName: cam.layerName,
      classIndex: cam.classIndex,
      method: cam.method,
      width: cam.width,
      height: cam.height,
      heatmap: cam.heatmap,
    },
    modelInputPng,
    overlayPng,
  };
}
