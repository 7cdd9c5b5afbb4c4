import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemArtifactStore } from '@braintune/artifacts';
import { HyperparametersSchema, resolveHyperparameters } from '@braintune/protocol';
import { initBackend } from '../backend/index.js';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { syntheticBundle } from '../training/synthetic-bundle.js';
import { train } from '../training/train.js';
import { FastBatchNorm } from './batch-norm.js';
import { buildModel } from './build.js';
import { baseModelKey, loadBaseModel } from './base-model.js';
import { saveLayersModelToDir } from './model-io.js';
import { presetHyperparameters, PRESET_NAMES } from './presets.js';

let dir: string;
beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  await initBackend({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'braintune-models-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function nonTrainableCount(model: tfl.LayersModel): number {
  return model.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}

describe('buildModel', () => {
  it('reproduces the seed CNN exactly: 3,236,052 parameters at 224 px, 160 non-trainable', async () => {
    const model = await buildModel(presetHyperparameters('seed'), { imageSize: 224, numClasses: 4 });
    expect(model.countParams()).toBe(3_236_052);
    expect(nonTrainableCount(model)).toBe(160);
    const byName = new Map(model.layers.map((l) => [l.name, l]));
    expect(byName.get('block1_conv1')?.countParams()).toBe(160);
    expect(byName.get('block3_conv1')?.countParams()).toBe(18_496);
    expect(byName.get('head_dense1')?.countParams()).toBe(3_211_328);
    expect(model.outputs[0]?.shape).toEqual([null, 4]);
    model.dispose();
  });

  it('builds every preset and the residual family with the expected output shapes', async () => {
    for (const name of PRESET_NAMES) {
      const model = await buildModel(presetHyperparameters(name, { imageSize: 32 }), {
        imageSize: 32,
        numClasses: 3,
      });
      expect(model.outputs[0]?.shape).toEqual([null, 3]);
      model.dispose();
    }
    const resnet = await buildModel(
      resolveHyperparameters({
        family: 'resnet',
        convBlocks: 3,
        blocksPerStage: 2,
        baseFilters: 8,
        convBatchNorm: true,
        pooling: 'gap',
      }),
      { imageSize: 32, numClasses: 4 },
    );
    // stem + 3 stages × 2 blocks × 2 convs + 2 projections (stages 2 and 3).
    expect(resnet.layers.filter((l) => l.getClassName() === 'Conv2D')).toHaveLength(1 + 12 + 2);
    expect(resnet.layers.filter((l) => l.getClassName() === 'Add')).toHaveLength(6);
    resnet.dispose();
  });

  it('makes every structural tunable take effect', async () => {
    const base = resolveHyperparameters({ imageSize: 32 });
    const fingerprint = async (overrides: Record<string, unknown>): Promise<string> => {
      const model = await buildModel(resolveHyperparameters({ ...base, ...overrides }), {
        imageSize: 32,
        numClasses: 4,
      });
      const json = JSON.stringify(model.toJSON(null, false)) + String(model.countParams());
      model.dispose();
      return json;
    };
    const reference = await fingerprint({});
    const changes: Record<string, unknown>[] = [
      { convBlocks: 2 },
      { baseFilters: 8 },
      { kernelSize: 5 },
      { convsPerBlock: 2 },
      { convBatchNorm: true },
      { convDropout: 0.5 },
      { pooling: 'gap' },
      { denseUnits: 32 },
      { dense2Units: 0 },
      { denseBatchNorm: false },
      { denseDropout: 0.3 },
      { bnMomentum: 0.9 },
      { weightDecay: 1e-3 },
      { family: 'resnet' },
    ];
    for (const change of changes)
      expect(await fingerprint(change), JSON.stringify(change)).not.toBe(reference);
    const resnet = await fingerprint({ family: 'resnet' });
    expect(await fingerprint({ family: 'resnet', blocksPerStage: 2 })).not.toBe(resnet);
    for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
      const model = await buildModel(resolveHyperparameters({ optimizer, learningRate: 0.004 }), {
        imageSize: 16,
        numClasses: 2,
      });
      expect(model.optimizer.getClassName()).toBe(
        { adam: 'Adam', sgd: 'Momentum', rmsprop: 'RMSProp' }[optimizer],
      );
      expect(model.optimizer.getConfig()['learningRate']).toBe(0.004);
      model.dispose();
    }
  });

  it('gives the same initial weights for the same seed and different ones for another seed', async () => {
    const hp = presetHyperparameters('best', { imageSize: 16 });
    const weights = async (seed: number): Promise<Float32Array> => {
      const model = await buildModel(hp, { imageSize: 16, numClasses: 4, seed });
      const values = model.getWeights()[0]?.dataSync() as Float32Array;
      model.dispose();
      return values;
    };
    expect(Array.from(await weights(3))).toEqual(Array.from(await weights(3)));
    expect(Array.from(await weights(3))).not.toEqual(Array.from(await weights(4)));
  });
});

describe('FastBatchNorm', () => {
  it('matches tfjs BatchNormalization in value and gradient (training mode)', () => {
    const x = tf.randomNormal([6, 5, 5, 3], 0.5, 2, 'float32', 11);
    const dy = tf.randomNormal([6, 5, 5, 3], 0, 1, 'float32', 12);
    const ours = new FastBatchNorm({ momentum: 0.9 });
    const theirs = tfl.layers.batchNormalization({ momentum: 0.9 });
    ours.build([null, 5, 5, 3]);
    theirs.build([null, 5, 5, 3]);
    const gamma = tf.tensor1d([0.5, 1.5, -1]);
    const beta = tf.tensor1d([0.1, 0, -0.2]);
    for (const layer of [ours, theirs]) layer.setWeights([gamma, beta, tf.zeros([3]), tf.ones([3])]);
    const run = (layer: tfl.layers.Layer): tf.Tensor[] => {
      const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, dy)) as tf.Scalar,
        vars,
      );
      const dx = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, dy)),
      )(x);
      return [value, ...vars.map((v) => grads[v.name] as tf.Tensor), dx, ...layer.getWeights().slice(2)];
    };
    const a = run(ours);
    const b = run(theirs);
    a.forEach((t, i) =>
      expect(tf.max(tf.abs(tf.sub(t, b[i] as tf.Tensor))).dataSync()[0]).toBeLessThan(1e-4),
    );
    const inferOurs = ours.apply(x, { training: false }) as tf.Tensor;
    const inferTheirs = theirs.apply(x, { training: false }) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(inferOurs, inferTheirs))).dataSync()[0]).toBeLessThan(1e-5);
  });
});

describe('transfer learning from a saved tfjs model', () => {
  async function saveTinyBase(): Promise<string> {
    const input = tfl.input({ shape: [16, 16, 3] });
    const conv = tfl.layers
      .conv2d({ name: 'base_conv', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' })
      .apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers
      .maxPooling2d({ name: 'base_pool', poolSize: 2 })
      .apply(conv) as tfl.SymbolicTensor;
    const base = tfl.model({ inputs: input, outputs: pooled, name: 'tiny_base' });
    await saveLayersModelToDir(base, store().localDir('models/tiny-base'));
    await store().push('models/tiny-base');
    base.dispose();
    return 'artifact:models/tiny-base';
  }
  const store = () => new FilesystemArtifactStore(join(dir, 'store'));

  for (const freezeBase of [true, false]) {
    it(`trains a new head on a ${freezeBase ? 'frozen' : 'fine-tuned'} base and round-trips through a checkpoint`, async () => {
      const url = await saveTinyBase();
      const hp = resolveHyperparameters({
        family: 'transfer',
        baseModelUrl: url,
        freezeBase,
        imageSize: 16,
        denseUnits: 16,
        dense2Units: 0,
        pooling: 'gap',
        learningRate: 0.01,
      });
      const model = await buildModel(hp, { imageSize: 16, numClasses: 4, baseModels: store() });
      const baseKernel = (m: tfl.LayersModel): Float32Array => {
        const nested = m.layers.find((l) => l instanceof tfl.LayersModel) as tfl.LayersModel;
        return nested.getLayer('base_conv').getWeights()[0]?.dataSync() as Float32Array;
      };
      const before = Array.from(baseKernel(model));
      model.dispose();
      const ckpt = join(dir, `transfer-${freezeBase}`);
      const result = await train({
        bundle: syntheticBundle(),
        hparams: hp,
        toEpoch: 1,
        seed: 1,
        checkpointDir: ckpt,
        baseModels: store(),
      });
      expect(result.outcome).toBe('completed');
      const after = Array.from(baseKernel(result.model));
      if (freezeBase) expect(after).toEqual(before);
      else expect(after).not.toEqual(before);
      const loaded = await loadCheckpoint(ckpt);
      expect(Array.from(baseKernel(loaded.model))).toEqual(after);
      result.model.dispose();
      loaded.model.dispose();
    });
  }
});

describe('transfer base confinement', () => {
  it('accepts only registry and artifact references', () => {
    const ok = (v: string) => HyperparametersSchema.shape.baseModelUrl.safeParse(v).success;
    for (const bad of [
      'file:///etc/passwd',
      'https://example.com/model.json',
      'http://169.254.169.254/latest/meta-data',
      '/abs/model.json',
      'artifact:../outside',
      'artifact:a/../../b',
      'registry:../x@v1',
    ])
      expect(ok(bad), bad).toBe(false);
    for (const good of ['registry:brain-mri@v2', 'registry:brain-mri@production', 'artifact:models/base'])
      expect(ok(good), good).toBe(true);
    expect(baseModelKey('registry:brain-mri@v2')).toBe('registry/brain-mri/v2');
    expect(() => baseModelKey('registry:brain-mri@production')).toThrow(/alias/);
  });

  it('refuses a model.json whose weight paths leave its folder', async () => {
    const root = join(dir, 'evil-store');
    const store = new FilesystemArtifactStore(root);
    const input = tfl.input({ shape: [8, 8, 1] });
    const out = tfl.layers.conv2d({ filters: 1, kernelSize: 1 }).apply(input) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: input, outputs: out });
    const folder = store.localDir('models/evil');
    await saveLayersModelToDir(m, folder);
    m.dispose();
    await mkdir(join(root, 'secret'), { recursive: true });
    await writeFile(join(root, 'secret', 'weights.bin'), await readFile(join(folder, 'weights.bin')));
    const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[] }[];
    };
    json.weightsManifest[0]!.paths = ['../../secret/weights.bin'];
    await writeFile(join(folder, 'model.json'), JSON.stringify(json));
    await expect(loadBaseModel('artifact:models/evil', store)).rejects.toThrow(/outside its folder/);
    json.weightsManifest[0]!.paths = ['/etc/hostname'];
    await writeFile(join(folder, 'model.json'), JSON.stringify(json));
    await expect(loadBaseModel('artifact:models/evil', store)).rejects.toThrow(/outside its folder/);
    await expect(loadBaseModel('artifact:models/none', store)).rejects.toThrow(/has no models\/none/);
  });
});
