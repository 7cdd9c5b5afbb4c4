import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import yazl from 'yazl';
import { z } from 'zod';
import type { VersionInfo } from './service.js';

const TensorSpecs = z.array(
  z.object({ name: z.string(), shape: z.array(z.number().int()), dtype: z.enum(['float32', 'int32']) }),
);
const LatestView = z.object({ path: z.string().regex(/^epoch-\d+$/) });

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
    classes: version.classes,
    imageSize: version.imageSize,
    preprocessing: version.preprocessing,
    input: `[batch, ${version.imageSize}, ${version.imageSize}, 1] float32: greyscale pixels × pixelScale`,
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

/** The zip stream of buildTfjsExport's files, under a `<model>-v<N>/` folder. */
export async function tfjsZipStream(version: VersionInfo, dir: string): Promise<Readable> {
  const files = await buildTfjsExport(version, dir);
  const folder = `${version.model}-v${version.version}`;
  const zip = new yazl.ZipFile();
  const mtime = new Date(version.createdAt);
  zip.addBuffer(files.modelJson, `${folder}/model.json`, { mtime });
  zip.addBuffer(files.weights, `${folder}/weights.bin`, { mtime, compress: true });
  zip.addBuffer(files.metadata, `${folder}/braintune.json`, { mtime });
  zip.end();
  return zip.outputStream as unknown as Readable;
}
