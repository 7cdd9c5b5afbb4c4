import { readdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InvalidInputError } from '@braintune/protocol';
import { preprocessImage, type Preprocessing } from '../dataset/preprocess.js';
import { lesionMaskPath, readLesionMasks } from '../phantoms/masks.js';
import { pixelsToTensor } from '../training/batches.js';
import { gradCam, type GradCamOptions } from './gradcam.js';
import { upsampleBilinear } from './overlay.js';
import {
  pointAt,
  pointingScore,
  summarisePointing,
  type PointingOptions,
  type PointingSummary,
} from './pointing.js';

/** One tumour scan with its lesion masks, both as the model sees them (imageSize²). */
export interface PointingCase {
  file: string;
  classIndex: number;
  pixels: Uint8Array;
  core: Uint8Array;
  extent: Uint8Array;
}

/**
 * Loads the scans of a phantom data set that carry lesion masks (`make-phantoms --masks`),
 * preprocessed as the model's bundle was. The masks are resampled by area to imageSize: exact
 * for the square phantoms under every resize mode (contain, cover, fill all keep the frame).
 * `perClass` caps the scans read per class (first files in name order).
 */
export async function loadPointingCases(
  dataDir: string,
  classes: readonly string[],
  preprocessing: Preprocessing,
  perClass = Infinity,
): Promise<PointingCase[]> {
  const cases: PointingCase[] = [];
  for (const [classIndex, cls] of classes.entries()) {
    let files: string[];
    try {
      files = (await readdir(path.join(dataDir, cls))).filter((f) => !f.startsWith('.')).sort();
    } catch {
      continue;
    }
    let taken = 0;
    for (const name of files) {
      if (taken >= perClass) break;
      const masks = await readLesionMasks(lesionMaskPath(dataDir, cls, name), preprocessing.imageSize);
      if (!masks || !masks.core.some((v) => v)) continue;
      const file = path.join(dataDir, cls, name);
      cases.push({
        file,
        classIndex,
        pixels: await preprocessImage(file, preprocessing),
        core: masks.core,
        extent: masks.extent,
      });
      taken++;
    }
  }
  if (cases.length === 0)
    throw new InvalidInputError(
      `no scan in ${dataDir} has a lesion mask`,
      'make the data set with braintune make-phantoms --masks',
    );
  return cases;
}

export interface PointingReport {
  /** Against the lesion core (the tumour proper). */
  core: PointingSummary;
  /** Against the lesion's extent (core plus oedema, cleft, dural tail, sella ring). */
  extent: PointingSummary;
  /**
   * Share of scans whose peak lies in the outer eighth of the image on any side (6 px at 48 px):
   * the image border and, left and right, the skull. Where a coarse map's peak tends to go.
   */
  peakNearBorder: number;
  /** Pointing accuracy on the core per class name. */
  perClass: Record<string, { scans: number; pointingAccuracy: number; massInside: number }>;
}

/** Scores any per-scan map (size², e.g. an upsampled CAM or a baseline) over the cases. */
export function pointingReport(
  cases: readonly PointingCase[],
  classes: readonly string[],
  mapOf: (c: PointingCase) => Float32Array,
  options: PointingOptions = {},
): PointingReport {
  const size = Math.round(Math.sqrt(cases[0]?.core.length ?? 0));
  const core = [];
  const extent = [];
  const byClass = new Map<number, ReturnType<typeof pointingScore>[]>();
  let nearBorder = 0;
  const band = size / 8;
  for (const c of cases) {
    const map = mapOf(c);
    const peak = pointAt(map, size);
    if (peak && Math.min(peak.x + 0.5, peak.y + 0.5, size - peak.x - 0.5, size - peak.y - 0.5) < band)
      nearBorder++;
    const score = pointingScore(map, c.core, size, options);
    core.push(score);
    extent.push(pointingScore(map, c.extent, size, options));
    byClass.set(c.classIndex, [...(byClass.get(c.classIndex) ?? []), score]);
  }
  const perClass: PointingReport['perClass'] = {};
  for (const [index, scores] of byClass) {
    const s = summarisePointing(scores);
    perClass[classes[index] ?? String(index)] = {
      scans: s.scans,
      pointingAccuracy: s.pointingAccuracy,
      massInside: s.massInside,
    };
  }
  return {
    core: summarisePointing(core),
    extent: summarisePointing(extent),
    peakNearBorder: cases.length ? nearBorder / cases.length : 0,
    perClass,
  };
}

/**
 * The pointing game of a model's explanations: for every case, the map of its true class
 * (as in Zhang et al.: the question is whether the explanation finds the lesion, not whether the
 * model's prediction was right), bilinearly upsampled to the input size.
 */
export function evaluatePointing(
  model: tfl.LayersModel,
  cases: readonly PointingCase[],
  classes: readonly string[],
  cam: GradCamOptions = {},
  options: PointingOptions = {},
): PointingReport & { layerName: string } {
  let layerName = '';
  const report = pointingReport(
    cases,
    classes,
    (c) => {
      const size = Math.round(Math.sqrt(c.pixels.length));
      const input = pixelsToTensor([c.pixels], size);
      try {
        const result = gradCam(model, input, c.classIndex, cam);
        layerName = result.layerName;
        return upsampleBilinear(result, size, size);
      } finally {
        input.dispose();
      }
    },
    options,
  );
  return { ...report, layerName };
}

/** Share of the cases the model classifies right (for the bench's context). */
export function caseAccuracy(model: tfl.LayersModel, cases: readonly PointingCase[]): number {
  let correct = 0;
  for (const c of cases) {
    const size = Math.round(Math.sqrt(c.pixels.length));
    const predicted = tf.tidy(() => {
      const input = pixelsToTensor([c.pixels], size);
      return (tf.argMax(model.predict(input) as tf.Tensor2D, 1).dataSync()[0] ?? -1) as number;
    });
    if (predicted === c.classIndex) correct++;
  }
  return cases.length ? correct / cases.length : 0;
}
