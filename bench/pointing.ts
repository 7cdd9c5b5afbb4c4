/**
 * `npm run bench:pointing [-- --per-class 150 --held-out 40 --epochs 9]`
 *
 * Do the explanations point at the lesion? Trains a model like the demo's best (phantoms at 128 px
 * read at 48 px, a point of examples/demo-phantoms.yaml's search space) for a few epochs, then plays
 * the pointing game on held-out phantoms with known lesion masks (tumour classes only), for the old
 * default explanation (Grad-CAM on the last conv) and each new variant, against two baselines that
 * ignore the model: a centred Gaussian and a uniformly random map. Also measures whether anything
 * outside the lesion tells the classes apart (a shortcut the model could learn). One core, a few
 * minutes. The last stdout line is JSON.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import {
  caseAccuracy,
  centredGaussianMap,
  gradCam,
  pixelsToTensor,
  upsampleBilinear,
  initBackend,
  loadPointingCases,
  pointingReport,
  train,
  type GradCamOptions,
  type PointingReport,
} from '@braintune/model-core';
import { loadBundle, prepareDataset, PreprocessingSchema } from '@braintune/model-core/dataset';
import { makePhantoms } from '@braintune/model-core/phantoms';
import { resolveHyperparameters } from '@braintune/protocol';
import { headRegions, lesionOcclusion, outsideLesionCues } from './pointing-cues.js';

process.env.LOG_LEVEL ??= 'silent';
const { values: args } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '150' },
    'held-out': { type: 'string', default: '40' },
    epochs: { type: 'string', default: '9' },
    size: { type: 'string', default: '48' },
  },
});
const perClass = Number(args['per-class']);
const heldOut = Number(args['held-out']);
const epochs = Number(args.epochs);
const imageSize = Number(args.size);
const log = (msg: string) => console.error(`[bench:pointing] ${msg}`);

const VARIANTS: Record<string, GradCamOptions> = {
  'gradcam@last (old default)': { method: 'gradcam', layer: 'last' },
  'gradcam++@last': { method: 'gradcam++', layer: 'last' },
  'layercam@last': { method: 'layercam', layer: 'last' },
  // Same 3×3-cell block as the old default, but after its BN + ReLU: separates "too coarse" from
  // "explains a pre-activation map".
  'gradcam@block4_relu1': { method: 'gradcam', layer: 'block4_relu1' },
  'gradcam@fine': { method: 'gradcam', layer: 'fine' },
  'gradcam++@fine': { method: 'gradcam++', layer: 'fine' },
  'layercam@fine': { method: 'layercam', layer: 'fine' },
};

const round = (x: number) => Math.round(x * 1000) / 1000;
function brief(r: PointingReport) {
  return {
    pointing: round(r.core.pointingAccuracy),
    massInside: round(r.core.massInside),
    pointingExtent: round(r.extent.pointingAccuracy),
    massInsideExtent: round(r.extent.massInside),
    peakNearBorder: round(r.peakNearBorder),
    perClass: Object.fromEntries(Object.entries(r.perClass).map(([k, v]) => [k, round(v.pointingAccuracy)])),
  };
}

const work = await mkdtemp(path.join(tmpdir(), 'braintune-bench-pointing-'));
try {
  const started = performance.now();
  const trainDir = path.join(work, 'train');
  const testDir = path.join(work, 'held-out');
  await makePhantoms({ outDir: trainDir, perClass, size: 128, seed: 1 });
  await makePhantoms({
    outDir: testDir,
    perClass: heldOut,
    size: 128,
    seed: 'pointing-held-out',
    masks: true,
  });
  const store = new FilesystemArtifactStore(path.join(work, 'store'));
  const prepared = await prepareDataset({ store, dataDir: trainDir, imageSize, valFraction: 0.2, seed: 1 });
  const bundle = await loadBundle(store, prepared.hash);
  const backend = await initBackend({ backend: 'wasm' });
  // The demo's space at a good point: 4 blocks of 16·2^b filters with BN, GAP head, flip.
  const hparams = resolveHyperparameters({
    imageSize,
    convBlocks: 4,
    baseFilters: 16,
    convBatchNorm: true,
    bnMomentum: 0.9,
    preciseBn: true,
    pooling: 'gap',
    convDropout: 0,
    denseUnits: 64,
    dense2Units: 0,
    denseBatchNorm: false,
    optimizer: 'adam',
    learningRate: 5e-3,
    lrSchedule: 'cosine',
    scheduleEpochs: epochs,
    batchSize: 32,
    augmentation: { flip: true },
  });
  log(`training ${epochs} epochs on ${bundle.split.train.length} phantoms (${backend.name})`);
  const t0 = performance.now();
  const trained = await train({
    bundle,
    hparams,
    toEpoch: epochs,
    seed: 1,
    onEpoch: (m) => log(`epoch ${m.epoch}: val accuracy ${m.valAccuracy.toFixed(3)}`),
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const valAccuracy = trained.history.at(-1)?.valAccuracy ?? 0;
  log(`val accuracy ${valAccuracy.toFixed(3)} after ${trainSeconds.toFixed(0)} s`);

  const cases = await loadPointingCases(
    testDir,
    bundle.classes,
    PreprocessingSchema.parse(bundle.preprocessing),
  );
  const gaussian = centredGaussianMap(imageSize);
  const regions = headRegions(cases, 'pointing-held-out');
  // Where the peaks go when they miss: the same maps scored against the skull ring and the background.
  const peaksIn = (maps: Float32Array[], key: 'skull' | 'outside') =>
    round(
      pointingReport(
        cases.map((c, i) => ({ ...c, core: regions[i]![key], extent: regions[i]![key] })),
        bundle.classes,
        (c) => maps[cases.findIndex((x) => x.file === c.file)]!,
        { tolerance: 0 },
      ).core.pointingAccuracy,
    );
  type Result = ReturnType<typeof brief> & {
    layer: string;
    peakOnSkull: number;
    peakOutsideHead: number;
    seconds: number;
  };
  const results: Record<string, Result> = {};
  for (const [name, cam] of Object.entries(VARIANTS)) {
    const t = performance.now();
    let layer = '';
    const maps = cases.map((c) => {
      const input = pixelsToTensor([c.pixels], imageSize);
      try {
        const result = gradCam(trained.model, input, c.classIndex, cam);
        layer = result.layerName;
        return upsampleBilinear(result, imageSize, imageSize);
      } finally {
        input.dispose();
      }
    });
    const report = pointingReport(cases, bundle.classes, (c) => maps[cases.indexOf(c)]!);
    results[name] = {
      layer,
      ...brief(report),
      peakOnSkull: peaksIn(maps, 'skull'),
      peakOutsideHead: peaksIn(maps, 'outside'),
      seconds: round((performance.now() - t) / 1000),
    };
    log(`${name} (${layer}): pointing ${results[name].pointing}, skull ${results[name].peakOnSkull}`);
  }
  const centred = pointingReport(cases, bundle.classes, () => gaussian);
  const randomCore = centred.core.random;
  const cues = outsideLesionCues(testDir, 'pointing-held-out', heldOut, imageSize);
  const best = Object.entries(results)
    .filter(([name]) => !name.includes('old default'))
    .sort((a, b) => b[1].pointing - a[1].pointing || b[1].massInside - a[1].massInside)[0]!;
  const heldOutAccuracy = caseAccuracy(trained.model, cases);
  const occlusion = lesionOcclusion(trained.model, cases, bundle.classes);
  trained.model.dispose();
  console.log(
    JSON.stringify({
      backend: backend.name,
      imageSize,
      trainImages: bundle.split.train.length,
      epochs,
      trainSeconds: round(trainSeconds),
      valAccuracy: round(valAccuracy),
      heldOutTumourScans: cases.length,
      heldOutAccuracy: round(heldOutAccuracy),
      tolerance: '1/24 of the side',
      before: results['gradcam@last (old default)'],
      after: { variant: best[0], ...best[1] },
      variants: results,
      baselines: {
        centredGaussian: brief(centred),
        random: { pointing: round(randomCore.pointingAccuracy), massInside: round(randomCore.massInside) },
      },
      outsideLesionCues: await cues,
      lesionOccluded: occlusion,
      seconds: round((performance.now() - started) / 1000),
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
