import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, resolveHyperparameters } from '@braintune/protocol';
import { initBackend } from '../backend/init-backend.js';
import { buildModel } from '../models/build.js';
import { pixelsToTensor } from '../training/batches.js';
import { syntheticBundle } from '../training/synthetic-bundle.js';
import { train } from '../training/train.js';
import { colormap, gradCam, renderHeatmapOverlay } from './index.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
});

/**
 * conv (2 filters, 1×1, fixed weights) → flatten → dense(2, softmax) with chosen weights,
 * so the Grad-CAM map can be computed by hand: the logit of class c is
 * sum_{y,x,k} W[(y,x,k), c] · A[y,x,k] + b, its gradient w.r.t. A is W, and the map is
 * relu(sum_k mean_{y,x}(W[..,k,c]) · A[y,x,k]).
 */
function linearModel(size: number, dense: number[][]): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(
    tfl.layers.conv2d({
      inputShape: [size, size, 1],
      filters: 2,
      kernelSize: 1,
      activation: 'relu',
      name: 'last_conv',
    }),
  );
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 2, activation: 'softmax' }));
  // channel 0 = 2·x, channel 1 = 1·x (both non-negative for x ≥ 0)
  model.layers[0]!.setWeights([tf.tensor4d([2, 1], [1, 1, 1, 2]), tf.zeros([2])]);
  model.layers[2]!.setWeights([tf.tensor2d(dense), tf.zeros([2])]);
  return model;
}

describe('gradCam', () => {
  it('matches the hand-computed map of a linear head and localises the evidence', () => {
    const size = 4;
    // Dense rows are (y, x, k) in flatten order; class 0 looks at channel 0 in the top-left 2×2,
    // class 1 looks at channel 1 everywhere with a negative sign.
    const dense: number[][] = [];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let k = 0; k < 2; k++) dense.push([k === 0 && y < 2 && x < 2 ? 1 : 0, k === 1 ? -0.5 : 0]);
    const model = linearModel(size, dense);
    // Image: bright blob in the top-left, dimmer pixel in the bottom-right.
    const pixels = new Float32Array(size * size);
    pixels[0] = 1;
    pixels[1] = 0.8;
    pixels[15] = 0.5;
    const input = tf.tensor4d(pixels, [1, size, size, 1]);

    const cam = gradCam(model, input, 0, { method: 'gradcam', layer: 'last' });
    expect(cam.layerName).toBe('last_conv');
    expect([cam.height, cam.width]).toEqual([4, 4]);
    // alpha_0 = mean of the class-0 weights of channel 0 = 4/16, alpha_1 = 0 → map ∝ A0 = 2·x.
    const expected = Array.from(pixels, (p) => p / 1);
    for (let i = 0; i < 16; i++) expect(cam.heatmap[i]).toBeCloseTo(expected[i]!, 5);

    // Class 1's evidence is negative everywhere: ReLU leaves an empty map.
    const negative = gradCam(model, input, 1, { method: 'gradcam' });
    expect(Math.max(...negative.heatmap)).toBe(0);
    input.dispose();
  });

  it('defaults to the predicted class and rejects a bad class index', () => {
    const dense: number[][] = [];
    for (let i = 0; i < 3 * 3 * 2; i++) dense.push([0.1, -0.1]);
    const model = linearModel(3, dense);
    const input = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
    expect(gradCam(model, input).classIndex).toBe(0);
    expect(() => gradCam(model, input, 7)).toThrow(/outside/);
    input.dispose();
  });

  it('explains a seed-like CNN (conv → pool → dropout → flatten → dense → bn → softmax)', () => {
    const model = tfl.sequential();
    model.add(
      tfl.layers.conv2d({
        inputShape: [16, 16, 1],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
      }),
    );
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    model.add(
      tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_b' }),
    );
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tfl.layers.dropout({ rate: 0.2 }));
    model.add(tfl.layers.flatten());
    model.add(tfl.layers.dense({ units: 8 }));
    model.add(tfl.layers.batchNormalization());
    model.add(tfl.layers.dense({ units: 4, activation: 'softmax' }));
    const input = tf.randomUniform([1, 16, 16, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const cam = gradCam(model, input, undefined, { layer: 'last' });
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 2); // feature sub-model weights are shared
    expect(cam.layerName).toBe('conv_b');
    expect([cam.height, cam.width]).toEqual([8, 8]);
    const max = Math.max(...cam.heatmap);
    expect(max === 0 || Math.abs(max - 1) < 1e-6).toBe(true);
    expect(Math.min(...cam.heatmap)).toBeGreaterThanOrEqual(0);
    input.dispose();
  });
});

describe('gradCam on model-core hypermodels', () => {
  it.each([
    [
      'cnn with conv batch norm and global pooling',
      { family: 'cnn', convBatchNorm: true, pooling: 'gap' },
      /^block3_conv1$/,
    ],
    [
      'resnet (the map is the last residual block output)',
      { family: 'resnet', convBlocks: 2, blocksPerStage: 1 },
      /^stage2_block1_out$/,
    ],
  ] as const)('%s', async (_name, hp, layerPattern) => {
    const model = await buildModel(
      resolveHyperparameters({ imageSize: 16, baseFilters: 4, denseUnits: 8, dense2Units: 0, ...hp }),
      { imageSize: 16, numClasses: 4, seed: 2 },
    );
    const input = tf.randomUniform([1, 16, 16, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const cam = gradCam(model, input, undefined, { layer: 'last' });
    expect(cam.layerName).toMatch(layerPattern);
    expect(cam.width).toBeGreaterThan(1);
    expect(cam.heatmap.every((v) => v >= 0 && v <= 1)).toBe(true);
    input.dispose();
    model.dispose();
  });
});

describe('renderHeatmapOverlay', () => {
  it('colours the important region and keeps the rest grey', async () => {
    const scan = await sharp({
      create: { width: 40, height: 20, channels: 3, background: { r: 90, g: 90, b: 90 } },
    })
      .png()
      .toBuffer();
    const heatmap = new Float32Array([1, 0, 0, 0]); // 2×2: top-left important
    const png = await renderHeatmapOverlay(scan, { heatmap, width: 2, height: 2 }, { size: 80 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.format]).toEqual([80, 40, 'raw']);
    const px = (x: number, y: number) =>
      Array.from(data.subarray((y * 80 + x) * info.channels, (y * 80 + x) * info.channels + 3));
    const [r, g, b] = px(2, 2);
    expect(r!).toBeGreaterThan(b! + 40); // red-ish where the map is 1
    expect(px(78, 38)).toEqual([90, 90, 90]); // untouched where the map is 0
    expect(colormap(0)[2]).toBeGreaterThan(colormap(0)[0]);
    void g;
  });
});

describe('gradCam methods', () => {
  /** Class 0 looks at channel 0 in the top-left 2×2 only (as in the first test). */
  function topLeftModel(): { model: tfl.LayersModel; input: tf.Tensor4D } {
    const size = 4;
    const dense: number[][] = [];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let k = 0; k < 2; k++) dense.push([k === 0 && y < 2 && x < 2 ? 1 : 0, k === 1 ? -0.5 : 0]);
    const pixels = new Float32Array(size * size);
    pixels[0] = 1;
    pixels[1] = 0.8;
    pixels[15] = 0.5;
    return { model: linearModel(size, dense), input: tf.tensor4d(pixels, [1, size, size, 1]) };
  }

  it('LayerCAM keeps only the cells whose own gradient argues for the class; Grad-CAM++ matches Grad-CAM on a linear head', () => {
    const { model, input } = topLeftModel();
    // LayerCAM: relu(gradient) · A per cell; the gradient is 1 on the top-left 2×2 of channel 0, 0
    // elsewhere, so the bottom-right pixel (evidence the class ignores) vanishes.
    const layer = gradCam(model, input, 0, { method: 'layercam' });
    expect(layer.method).toBe('layercam');
    expect(layer.heatmap[0]).toBeCloseTo(1, 5);
    expect(layer.heatmap[1]).toBeCloseTo(0.8, 5);
    expect(layer.heatmap[15]).toBe(0);
    // Grad-CAM spreads the channel's mean gradient everywhere: the bottom-right pixel keeps 0.5.
    expect(gradCam(model, input, 0, { method: 'gradcam' }).heatmap[15]).toBeCloseTo(0.5, 5);
    // Grad-CAM++ with constant gradients: alpha = 1 / (2 + Σ A) on the four cells, so the channel
    // weight is 4 / 5.6 and the normalised map is A0 again.
    const plus = gradCam(model, input, 0, { method: 'gradcam++' });
    for (let i = 0; i < 16; i++) expect(plus.heatmap[i]).toBeCloseTo(input.dataSync()[i]!, 5);
    expect(() => gradCam(model, input, 0, { method: 'nope' as never })).toThrow(
      /unknown Grad-CAM method "nope"/,
    );
    input.dispose();
  });
});

describe('gradCam at a finer layer of a trained model', () => {
  it('gives a 12×12 map from block 2 at 24 px (6×6 from the last conv), in 0–1, for every method, without leaking tensors', async () => {
    const bundle = syntheticBundle({ imageSize: 24, perClass: 8, seed: 3 });
    const hparams = resolveHyperparameters({
      imageSize: 24,
      convBlocks: 3,
      baseFilters: 4,
      convBatchNorm: true,
      pooling: 'gap',
      denseUnits: 8,
      dense2Units: 0,
      batchSize: 8,
      learningRate: 0.01,
    });
    const { model } = await train({ bundle, hparams, toEpoch: 2, seed: 1 });
    const input = pixelsToTensor([bundle.images.subarray(0, 24 * 24)], 24);
    const before = tf.memory().numTensors;
    // The old default, the last conv (before its batch norm), and the new one (DEFAULT_CAM).
    expect(gradCam(model, input, 0, { layer: 'last' }).layerName).toBe('block3_conv1');
    expect(gradCam(model, input, 0)).toMatchObject({ layerName: 'block2_relu1', method: 'gradcam++' });
    for (const method of ['gradcam', 'gradcam++', 'layercam'] as const) {
      const cam = gradCam(model, input, 0, { method, layer: 'fine' });
      expect(cam.layerName).toBe('block2_relu1');
      expect([cam.height, cam.width]).toEqual([12, 12]);
      expect(cam.heatmap).toHaveLength(144);
      expect(cam.heatmap.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(Math.max(...cam.heatmap)).toBeCloseTo(1, 5);
    }
    const coarser = gradCam(model, input, 0, { layer: 'fine', minCells: 6 });
    expect([coarser.layerName, coarser.width]).toEqual(['block3_relu1', 6]);
    expect(gradCam(model, input, 0, { layer: 'block1_relu1' }).width).toBe(24);
    expect(() => gradCam(model, input, 0, { layer: 'dense_nope' })).toThrow(InvalidInputError);
    expect(tf.memory().numTensors).toBe(before);
    input.dispose();
    model.dispose();
  });

  it('falls back to the last residual block where the model is no single chain', async () => {
    const model = await buildModel(
      resolveHyperparameters({
        family: 'resnet',
        convBlocks: 2,
        blocksPerStage: 1,
        imageSize: 16,
        baseFilters: 4,
      }),
      { imageSize: 16, numClasses: 4, seed: 2 },
    );
    const input = tf.randomUniform([1, 16, 16, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    expect(gradCam(model, input, 0, { layer: 'fine' }).layerName).toBe(gradCam(model, input, 0).layerName);
    input.dispose();
    model.dispose();
  });
});
