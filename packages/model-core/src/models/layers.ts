import * as tfl from '@tensorflow/tfjs-layers';
import type { Hyperparameters } from '@braintune/protocol';
import { deriveSeed } from '../training/rng.js';
import { FastBatchNorm } from './batch-norm.js';
import { SeededDropout } from './seeded-dropout.js';

/**
 * Shared building blocks of the hypermodels. Every layer gets an explicit name (weights are
 * matched by name when a checkpoint is loaded) and a seed derived from the model seed and
 * its position, so the same hyperparameters and seed always give the same initial weights.
 */
export class LayerFactory {
  private counter = 0;

  constructor(
    readonly hparams: Hyperparameters,
    private readonly seed: number,
  ) {}

  private nextSeed(): number {
    this.counter += 1;
    return deriveSeed(this.seed, this.counter);
  }

  private kernelRegularizer(): ReturnType<typeof tfl.regularizers.l2> | undefined {
    return this.hparams.weightDecay > 0 ? tfl.regularizers.l2({ l2: this.hparams.weightDecay }) : undefined;
  }

  conv(
    name: string,
    filters: number,
    opts: { kernelSize?: number; strides?: number; useBias?: boolean; activation?: 'relu' | 'linear' } = {},
  ): tfl.layers.Layer {
    return tfl.layers.conv2d({
      name,
      filters,
      kernelSize: opts.kernelSize ?? this.hparams.kernelSize,
      strides: opts.strides ?? 1,
      padding: 'same',
      useBias: opts.useBias ?? true,
      activation: opts.activation ?? 'linear',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: this.nextSeed() }),
      kernelRegularizer: this.kernelRegularizer(),
    });
  }

  dense(name: string, units: number, activation: 'relu' | 'softmax' | 'linear'): tfl.layers.Layer {
    return tfl.layers.dense({
      name,
      units,
      activation,
      kernelInitializer: tfl.initializers.glorotUniform({ seed: this.nextSeed() }),
      kernelRegularizer: this.kernelRegularizer(),
    });
  }

  batchNorm(name: string): tfl.layers.Layer {
    return new FastBatchNorm({ name, momentum: this.hparams.bnMomentum });
  }

  dropout(name: string, rate: number): SeededDropout {
    return new SeededDropout({ name, rate, seed: this.nextSeed() });
  }
}

type Symbolic = tfl.SymbolicTensor;

export function applyLayer(layer: tfl.layers.Layer, x: Symbolic | Symbolic[]): Symbolic {
  return layer.apply(x) as Symbolic;
}

/**
 * The classifier head shared by every family: feature map → vector (flatten or global
 * average pooling) → [dropout] → dense → [BN] → [dense2 → [BN]] → softmax.
 * Mirrors the seed's "dense 64 → BN → 16 → BN → softmax".
 */
export function buildHead(f: LayerFactory, features: Symbolic, numClasses: number): Symbolic {
  const hp = f.hparams;
  let x = features;
  if ((x.shape.length ?? 0) === 4) {
    x = applyLayer(
      hp.pooling === 'gap'
        ? tfl.layers.globalAveragePooling2d({ name: 'head_gap' })
        : tfl.layers.flatten({ name: 'head_flatten' }),
      x,
    );
  }
  if (hp.denseDropout > 0) x = applyLayer(f.dropout('head_dropout', hp.denseDropout), x);
  x = applyLayer(f.dense('head_dense1', hp.denseUnits, 'relu'), x);
  if (hp.denseBatchNorm) x = applyLayer(f.batchNorm('head_bn1'), x);
  if (hp.dense2Units > 0) {
    if (hp.denseDropout > 0) x = applyLayer(f.dropout('head_dropout2', hp.denseDropout), x);
    x = applyLayer(f.dense('head_dense2', hp.dense2Units, 'relu'), x);
    if (hp.denseBatchNorm) x = applyLayer(f.batchNorm('head_bn2'), x);
  }
  return applyLayer(f.dense('head_softmax', numClasses, 'softmax'), x);
}
