import type * as tfl from '@tensorflow/tfjs-layers';
import type { ArtifactStore } from '@braintune/artifacts';
import { InvalidInputError, type Hyperparameters } from '@braintune/protocol';
import { createOptimizer } from '../training/optimizer.js';
import { buildCnn } from './cnn.js';
import { LayerFactory } from './layers.js';
import { loadBaseModel } from './base-model.js';
import { buildResnet } from './resnet.js';
import { buildTransfer } from './transfer.js';

export interface ModelShape {
  imageSize: number;
  numClasses: number;
  /** Seeds the initial weights and dropout masks (default 1). */
  seed?: number;
  /** Where a transfer base (`baseModelUrl`) is read from. */
  baseModels?: ArtifactStore;
}

/**
 * Builds the hypermodel the hyperparameters describe and compiles it (optimizer from the
 * hyperparameters, categorical cross-entropy, accuracy), so it also works with `model.fit`;
 * `train` uses the compiled optimizer.
 */
export async function buildModel(hparams: Hyperparameters, shape: ModelShape): Promise<tfl.LayersModel> {
  const { imageSize, numClasses } = shape;
  if (numClasses < 2) throw new InvalidInputError(`a classifier needs at least 2 classes, got ${numClasses}`);
  const factory = new LayerFactory(hparams, shape.seed ?? 1);
  let model: tfl.LayersModel;
  switch (hparams.family) {
    case 'cnn':
      model = buildCnn(factory, imageSize, numClasses);
      break;
    case 'resnet':
      model = buildResnet(factory, imageSize, numClasses);
      break;
    case 'transfer': {
      if (hparams.baseModelUrl === undefined) {
        throw new InvalidInputError(
          'the transfer family needs baseModelUrl',
          'set baseModelUrl=registry:NAME@vN (a promoted model) or artifact:KEY (a tfjs model folder in the artifact store)',
        );
      }
      model = buildTransfer(
        factory,
        await loadBaseModel(hparams.baseModelUrl, shape.baseModels),
        imageSize,
        numClasses,
      );
      break;
    }
  }
  model.compile({
    optimizer: createOptimizer(hparams),
    // Label smoothing, class weights and L2 are applied by our training step (training/step.ts).
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  // tfjs frees a compiled optimizer on model.dispose() only when it created it from a name; ours
  // is an instance, whose state (Adam moments: two tensors per weight) would leak in a worker
  // that trains many models. The model owns it: model.dispose() frees both.
  (model as unknown as { isOptimizerOwned: boolean }).isOptimizerOwned = true;
  return model;
}
