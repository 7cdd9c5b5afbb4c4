import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { DatasetBundle } from '../dataset/types.js';
import { FastBatchNorm } from '../models/batch-norm.js';
import { seededDropoutLayers } from '../models/seeded-dropout.js';
import { chunks, imagesTensor } from './batches.js';

/** Images used to re-estimate the statistics, and the batch size of those forward passes. */
export const PRECISE_BN_SAMPLES = 512;
export const PRECISE_BN_BATCH = 128;

const BN_CLASSES = new Set(['BatchNormalization', FastBatchNorm.className]);

type MomentumHolder = { momentum: number };

function batchNormLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  const found: tfl.layers.Layer[] = [];
  const visit = (layers: tfl.layers.Layer[]): void => {
    for (const layer of layers) {
      if (layer instanceof tfl.LayersModel) visit(layer.layers);
      else if (BN_CLASSES.has(layer.getClassName())) found.push(layer);
    }
  };
  visit(model.layers);
  return found;
}

export function hasBatchNorm(model: tfl.LayersModel): boolean {
  return batchNormLayers(model).length > 0;
}

/**
 * "Precise BN" (Wu & Johnson 2021, fvcore's update_bn_stats): replaces every batch-norm
 * layer's moving mean/variance by the average of its batch statistics over `indices`,
 * computed with the current weights. The exponential moving averages lag the weights while
 * they change fast (val accuracy 0.30–0.40 at epoch 6 in our probes); the re-estimated
 * statistics describe the network as it is now. Dropout is bypassed during these passes, so
 * neither the dropout steps nor the RNG advance: the result is deterministic.
 */
export function recalibrateBatchNorm(
  model: tfl.LayersModel,
  bundle: DatasetBundle,
  indices: readonly number[],
  /** Applied to each batch first, e.g. the training augmentation (see epoch.ts). */
  transform?: (images: tf.Tensor4D) => tf.Tensor4D,
): void {
  const layers = batchNormLayers(model);
  if (layers.length === 0 || indices.length === 0) return;
  const holders = layers.map((l) => l as unknown as MomentumHolder);
  const saved = holders.map((h) => h.momentum);
  const dropouts = seededDropoutLayers(model);
  for (const d of dropouts) d.bypass = true;
  try {
    chunks(indices, PRECISE_BN_BATCH).forEach((batch, i) => {
      // moving = moving·m + batch·(1 − m) with m = i/(i+1) is the running mean of batch statistics.
      for (const h of holders) h.momentum = i / (i + 1);
      tf.tidy(() => {
        const images = imagesTensor(bundle, batch);
        model.apply(transform ? transform(images) : images, { training: true });
      });
    });
  } finally {
    holders.forEach((h, i) => (h.momentum = saved[i] as number));
    for (const d of dropouts) d.bypass = false;
  }
}
