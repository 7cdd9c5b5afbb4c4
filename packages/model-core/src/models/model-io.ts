import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidInputError } from '@braintune/protocol';
import { z } from 'zod';

/**
 * Reading and writing tfjs LayersModels in the standard `model.json` + weight-file layout
 * without tfjs-node (whose `file://` handler cannot be installed here).
 */

const ModelJsonSchema = z
  .object({
    modelTopology: z.record(z.string(), z.unknown()),
    weightsManifest: z.array(
      z.object({
        paths: z.array(z.string()),
        weights: z.array(
          z.object({ name: z.string(), shape: z.array(z.number().int()), dtype: z.string() }).passthrough(),
        ),
      }),
    ),
  })
  .passthrough();

function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      let parsed: z.infer<typeof ModelJsonSchema>;
      try {
        parsed = ModelJsonSchema.parse(JSON.parse(await readFile(modelJsonPath, 'utf8')));
      } catch (err) {
        throw new InvalidInputError(
          `cannot read a tfjs LayersModel from ${modelJsonPath}`,
          'point to the model.json written by tfjs (model.save) or tensorflowjs_converter',
          { cause: err },
        );
      }
      const buffers: Buffer[] = [];
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const folder = await realpath(dirname(modelJsonPath));
      for (const group of parsed.weightsManifest) {
        for (const p of group.paths) buffers.push(await readFile(await weightFileIn(folder, p)));
        weightSpecs.push(...(group.weights as tf.io.WeightsManifestEntry[]));
      }
      const all = Buffer.concat(buffers);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return {
        modelTopology: parsed.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs,
        weightData,
      };
    },
  };
}

/**
 * A weight file named by a model.json: it must stay in the model's folder (a manifest naming
 * `../../etc/passwd` or an absolute path, or a link out of the folder, is refused).
 */
async function weightFileIn(folder: string, name: string): Promise<string> {
  const refuse = () =>
    new InvalidInputError(
      `model.json names the weight file ${JSON.stringify(name)} outside its folder`,
      'weight paths in a model.json are file names next to it (as tfjs writes them)',
    );
  if (isAbsolute(name) || name.includes('\0') || /^[a-z][a-z0-9+.-]*:/i.test(name)) throw refuse();
  const real = await realpath(join(folder, name)).catch(() => null);
  if (real === null)
    throw new InvalidInputError(
      `the weight file ${JSON.stringify(name)} of the model is missing`,
      'copy the whole model folder',
    );
  const rel = relative(folder, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw refuse();
  return real;
}

/** Loads a LayersModel from a local `model.json` (and the weight files next to it). */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(fileHandler(modelJsonPath));
}

/** Saves a LayersModel as `<dir>/model.json` + `<dir>/weights.bin`; returns the file:// URL of model.json. */
export async function saveLayersModelToDir(model: tfl.LayersModel, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData;
      const bytes =
        data === undefined
          ? new Uint8Array(0)
          : new Uint8Array(Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data);
      await writeFile(join(dir, 'weights.bin'), bytes);
      const modelJson = {
        format: 'layers-model',
        generatedBy: 'braintune',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return new URL(`file://${join(dir, 'model.json')}`).href;
}
