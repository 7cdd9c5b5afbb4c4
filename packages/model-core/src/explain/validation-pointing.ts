import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { PointingScore } from '@braintune/protocol';
import type { BundleManifest } from '../dataset/manifest.js';
import { PreprocessingSchema } from '../dataset/preprocess.js';
import type { DatasetBundle } from '../dataset/types.js';
import { lesionMaskPath, readLesionMasks } from '../phantoms/masks.js';
import { DEFAULT_CAM } from './gradcam.js';
import { evaluatePointing, type PointingCase } from './pointing-eval.js';

/** Scans scored per trial: enough for a stable share, cheap next to a rung (one Grad-CAM each). */
export const POINTING_CASES_PER_TRIAL = 64;

/**
 * The validation scans of a bundle whose source files carry lesion masks (a phantom data set
 * made with `make-phantoms --masks`), with the bundle's own pixels: what the model was
 * validated on. Up to `max` scans, taken from the classes in turn so no class fills the quota.
 *
 * The masks are read beside the source folder the manifest names: the one the bundle was first
 * prepared from (bundles are content-addressed, so a copy elsewhere shares it; same pixels, same
 * lesions). Empty when the data set has no masks, when that folder is not readable here, or when
 * the masks cannot be placed on the model's pixels: a head crop moves each scan by its own box,
 * and a non-square scan is letterboxed or cropped by the resize (phantoms are square).
 */
export async function validationPointingCases(
  bundle: DatasetBundle,
  manifest: Pick<BundleManifest, 'source' | 'files'>,
  max = POINTING_CASES_PER_TRIAL,
): Promise<PointingCase[]> {
  if (PreprocessingSchema.parse(bundle.preprocessing).headCrop) return [];
  const files = new Map(manifest.files.map((f) => [f.index, f]));
  const size = bundle.imageSize;
  const byClass = new Map<number, PointingCase[]>();
  for (const index of bundle.split.val) {
    const file = files.get(index);
    if (!file || file.width !== file.height) continue;
    const cls = bundle.classes[file.label]!;
    const masks = await readLesionMasks(
      lesionMaskPath(manifest.source, cls, path.posix.basename(file.path)),
      size,
    ).catch(() => null);
    if (!masks || !masks.core.some((v) => v)) continue;
    const list = byClass.get(file.label) ?? [];
    list.push({
      file: path.join(manifest.source, file.path),
      classIndex: file.label,
      pixels: bundle.images.subarray(index * size * size, (index + 1) * size * size),
      core: masks.core,
      extent: masks.extent,
    });
    byClass.set(file.label, list);
  }
  const cases: PointingCase[] = [];
  const lists = [...byClass.values()];
  for (let i = 0; cases.length < max && lists.some((l) => i < l.length); i++)
    for (const list of lists) if (i < list.length && cases.length < max) cases.push(list[i]!);
  return cases;
}

/** The pointing game of the default explanation on those cases; null when there are none. */
export function scorePointing(
  model: tfl.LayersModel,
  cases: readonly PointingCase[],
  classes: readonly string[],
): PointingScore | null {
  if (cases.length === 0) return null;
  const report = evaluatePointing(model, cases, classes, DEFAULT_CAM);
  return {
    scans: report.core.scans,
    pointingAccuracy: report.core.pointingAccuracy,
    massInside: report.core.massInside,
    chance: report.core.random,
    method: DEFAULT_CAM.method,
    layer: report.layerName,
  };
}
