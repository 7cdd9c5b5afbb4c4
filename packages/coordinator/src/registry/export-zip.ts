import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import yazl from 'yazl';
import { z } from 'zod';
import { CalibrationSchema, ENSEMBLE_MANIFEST } from '@braintune/protocol';
import type { VersionInfo } from './catalog.js';

const TensorSpecs = z.array(
  z.object({ name: z.string(), shape: z.array(z.number().int()), dtype: z.enum(['float32', 'int32']) }),
);
const LatestView = z.object({ path: z.string().regex(/^epoch-\d+$/) });
const StateView = z
  .object({
    classes: z.array(z.string()),
    imageSize: z.number().int(),
    preprocessing: z.record(z.string(), z.unknown()),
    pixelScale: z.number(),
    calibration: CalibrationSchema.optional(),
  })
  .passthrough();

/**
 * A registry version as a standard tfjs LayersModel: `model.json` (topology + weights
 * manifest) and `weights.bin`, plus `braintune.json` (classes, preprocessing, metrics) so
 * a consumer can feed it scans the way it was trained. The checkpoint already stores the
 * weights as raw little-endian values in the model's weight order under their layer-scoped
 * names, which is exactly tfjs's weight-file format: no TensorFlow is needed to convert.
 */
export async function buildTfjsExport(
  version: VersionInfo,
  dir: string,
): Promise<{ modelJson: Buffer; weights: Buffer; metadata: Buffer }> {
  const latest = LatestView.parse(JSON.parse(await readFile(join(dir, 'latest.json'), 'utf8')));
  const snapshot = join(dir, latest.path);
  const state = StateView.parse(JSON.parse(await readFile(join(snapshot, 'state.json'), 'utf8')));
  const topology = JSON.parse(await readFile(join(snapshot, 'model.json'), 'utf8')) as unknown;
  const specs = TensorSpecs.parse(JSON.parse(await readFile(join(snapshot, 'weights.json'), 'utf8')));
  const weights = await readFile(join(snapshot, 'weights.bin'));
  const expectedBytes = specs.reduce((sum, s) => sum + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
  if (expectedBytes !== weights.byteLength)
    throw new Error(
      `weights.bin of ${version.model}@v${version.version} has ${weights.byteLength} bytes, its manifest ${expectedBytes}`,
    );
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'braintune',
    convertedBy: null,
    modelTopology: topology,
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  const metadata = {
    model: version.model,
    version: version.version,
    // Read from the snapshot itself: an ensemble's members may differ in size and preprocessing.
    classes: state.classes,
    imageSize: state.imageSize,
    preprocessing: { ...state.preprocessing, pixelScale: state.pixelScale },
    input: `[batch, ${state.imageSize}, ${state.imageSize}, 1] float32: greyscale pixels × pixelScale`,
    calibration: state.calibration
      ? {
          temperature: state.calibration.temperature,
          threshold: state.calibration.operatingPoint.threshold,
          use: 'probabilities = softmax(log(output) / temperature); refer when the top probability < threshold',
        }
      : null,
    customLayers:
      'SeededDropout (identity at inference): register @braintune/model-core or replace with Dropout',
    metrics: version.metrics,
    hyperparameters: version.hyperparameters,
    source: { studyId: version.studyId, trialId: version.trialId },
    createdAt: version.createdAt,
    createdBy: version.createdBy,
  };
  return {
    modelJson: Buffer.from(JSON.stringify(modelJson)),
    weights,
    metadata: Buffer.from(JSON.stringify(metadata, null, 2)),
  };
}

/**
 * The zip stream of buildTfjsExport's files, under a `<model>-v<N>/` folder. An ensemble
 * zips each member as its own tfjs model in `member-<i>/` (with its braintune.json:
 * preprocessing and temperature) next to `ensemble.json`, which states how to combine them:
 * average softmax(log p / T_i) over members, refer below `threshold`.
 */
export async function tfjsZipStream(version: VersionInfo, dir: string): Promise<Readable> {
  const folder = `${version.model}-v${version.version}`;
  const zip = new yazl.ZipFile();
  const mtime = new Date(version.createdAt);
  const members = version.members ?? [{ dir: '' }];
  for (const member of members) {
    const files = await buildTfjsExport(version, join(dir, member.dir));
    const base = member.dir === '' ? folder : `${folder}/${member.dir}`;
    zip.addBuffer(files.modelJson, `${base}/model.json`, { mtime });
    zip.addBuffer(files.weights, `${base}/weights.bin`, { mtime, compress: true });
    zip.addBuffer(files.metadata, `${base}/braintune.json`, { mtime });
  }
  if (version.members !== null)
    zip.addBuffer(await readFile(join(dir, ENSEMBLE_MANIFEST)), `${folder}/${ENSEMBLE_MANIFEST}`, { mtime });
  zip.end();
  return zip.outputStream as unknown as Readable;
}
