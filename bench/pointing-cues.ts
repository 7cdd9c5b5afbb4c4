/**
 * Is there class information outside the lesion? For held-out phantoms, two intensities the
 * model could read away from the lesion: the scalp/skull ring (head radius 0.88–1.0) and the
 * brain away from the lesion's extent, both as the model sees them (imageSize px). A
 * nearest-centroid classifier on them (fitted on even indices, tested on odd ones) should stay near
 * chance (0.25) if the skull edge carries no label.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { dilateMask, pixelsToTensor, type PointingCase } from '@braintune/model-core';
import {
  PHANTOM_CLASSES,
  phantomFileName,
  phantomLesionMasks,
  renderPhantom,
} from '@braintune/model-core/phantoms';

interface Features {
  cls: number;
  index: number;
  f: [number, number, number];
}

async function featuresOf(
  dir: string,
  seed: string,
  cls: number,
  index: number,
  size: number,
): Promise<Features> {
  const name = PHANTOM_CLASSES[cls]!;
  const options = {
    cls: name,
    size: 128,
    anatomySeed: `${seed}:${name}:${index}`,
    lesionSeed: `${seed}:${index}`,
  };
  const { head } = renderPhantom(options);
  const extent = phantomLesionMasks(options, size).extent;
  const { data } = await sharp(path.join(dir, name, phantomFileName(index)))
    .resize(size, size, { fit: 'contain' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const k = size / 128;
  const [c, s] = [Math.cos(head.angle), Math.sin(head.angle)];
  let [ring, ringN, brain, brainN] = [0, 0, 0, 0];
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      if (extent[y * size + x]) continue;
      const dx = x + 0.5 - head.cx * k;
      const dy = y + 0.5 - head.cy * k;
      const r = Math.hypot((dx * c + dy * s) / (head.ax * k), (-dx * s + dy * c) / (head.ay * k));
      const v = data[y * size + x]!;
      if (r >= 0.88 && r <= 1.0) [ring, ringN] = [ring + v, ringN + 1];
      else if (r < 0.8) [brain, brainN] = [brain + v, brainN + 1];
    }
  const ringMean = ring / Math.max(ringN, 1);
  const brainMean = brain / Math.max(brainN, 1);
  return { cls, index, f: [ringMean, brainMean, ringMean / Math.max(brainMean, 1e-6)] };
}

export async function outsideLesionCues(dir: string, seed: string, perClass: number, size: number) {
  const all: Features[] = [];
  for (let cls = 0; cls < PHANTOM_CLASSES.length; cls++)
    for (let i = 0; i < perClass; i++) all.push(await featuresOf(dir, seed, cls, i, size));
  const dims = 3;
  const mean = Array.from({ length: dims }, (_, d) => all.reduce((a, x) => a + x.f[d]!, 0) / all.length);
  const sd = Array.from({ length: dims }, (_, d) =>
    Math.sqrt(all.reduce((a, x) => a + (x.f[d]! - mean[d]!) ** 2, 0) / all.length),
  );
  const z = (x: Features) => x.f.map((v, d) => (v - mean[d]!) / (sd[d]! || 1));
  const fit = all.filter((x) => x.index % 2 === 0);
  const test = all.filter((x) => x.index % 2 === 1);
  const centroids = PHANTOM_CLASSES.map((_, cls) => {
    const members = fit.filter((x) => x.cls === cls).map(z);
    return Array.from({ length: dims }, (_, d) => members.reduce((a, m) => a + m[d]!, 0) / members.length);
  });
  let correct = 0;
  for (const x of test) {
    const v = z(x);
    const distances = centroids.map((c) => c.reduce((a, cd, d) => a + (cd - v[d]!) ** 2, 0));
    if (distances.indexOf(Math.min(...distances)) === x.cls) correct++;
  }
  const round = (v: number) => Math.round(v * 100) / 100;
  const perClass_ = Object.fromEntries(
    PHANTOM_CLASSES.map((name, cls) => {
      const members = all.filter((x) => x.cls === cls);
      const avg = (d: number) => members.reduce((a, x) => a + x.f[d]!, 0) / members.length;
      return [
        name,
        { skullRingMean: round(avg(0)), brainOutsideLesionMean: round(avg(1)), ratio: round(avg(2)) },
      ];
    }),
  );
  return {
    perClass: perClass_,
    nearestCentroidAccuracy: round(correct / Math.max(test.length, 1)),
    chance: 0.25,
  };
}

/**
 * Does the model need the lesion? Each held-out tumour scan with its lesion's extent (dilated by
 * 1 px) painted over with the mean of the ring of tissue around it: a model that reads the lesion
 * should then call most of them no_tumor; one that reads a shortcut elsewhere keeps its answer.
 */
export function lesionOcclusion(
  model: tfl.LayersModel,
  cases: readonly PointingCase[],
  classes: readonly string[],
) {
  const noTumour = classes.indexOf('no_tumor');
  let [correct, calledNoTumour, unchanged] = [0, 0, 0];
  for (const c of cases) {
    const size = Math.round(Math.sqrt(c.pixels.length));
    const hole = dilateMask(c.extent, size, 1);
    const ring = dilateMask(hole, size, 3);
    let [sum, n] = [0, 0];
    for (let i = 0; i < hole.length; i++) if (ring[i] && !hole[i]) [sum, n] = [sum + c.pixels[i]!, n + 1];
    const fill = Math.round(sum / Math.max(n, 1));
    const occluded = Uint8Array.from(c.pixels, (v, i) => (hole[i] ? fill : v));
    const [before, after] = [c.pixels, occluded].map((pixels) =>
      tf.tidy(
        () => tf.argMax(model.predict(pixelsToTensor([pixels], size)) as tf.Tensor2D, 1).dataSync()[0]!,
      ),
    );
    if (after === c.classIndex) correct++;
    if (after === noTumour) calledNoTumour++;
    if (after === before) unchanged++;
  }
  const share = (k: number) => Math.round((k / Math.max(cases.length, 1)) * 1000) / 1000;
  return {
    accuracy: share(correct),
    calledNoTumour: share(calledNoTumour),
    predictionUnchanged: share(unchanged),
  };
}

/**
 * Masks of where a map should not point, for each case (imageSize²): the skull ring (head radius
 * 0.85–1.05: CSF, skull and scalp around the brain) and the background outside the head.
 */
export function headRegions(cases: readonly PointingCase[], seed: string) {
  return cases.map((c) => {
    const size = Math.round(Math.sqrt(c.pixels.length));
    const name = path.basename(path.dirname(c.file)) as (typeof PHANTOM_CLASSES)[number];
    const index = Number(/phantom-(\d+)/.exec(c.file)?.[1] ?? 1) - 1;
    const { head } = renderPhantom({
      cls: name,
      size: 128,
      anatomySeed: `${seed}:${name}:${index}`,
      lesionSeed: `${seed}:${index}`,
    });
    const k = size / 128;
    const [cos, sin] = [Math.cos(head.angle), Math.sin(head.angle)];
    const skull = new Uint8Array(size * size);
    const outside = new Uint8Array(size * size);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const dx = x + 0.5 - head.cx * k;
        const dy = y + 0.5 - head.cy * k;
        const r = Math.hypot((dx * cos + dy * sin) / (head.ax * k), (-dx * sin + dy * cos) / (head.ay * k));
        if (r > 1.05) outside[y * size + x] = 1;
        else if (r >= 0.85) skull[y * size + x] = 1;
      }
    return { skull, outside };
  });
}
