import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidInputError } from '@braintune/protocol';
import { applyLayer, buildHead, type LayerFactory } from './layers.js';

/**
 * Transfer learning: a user-supplied LayersModel (loaded by the caller) is the feature
 * extractor, frozen or fine-tuned, with our classifier head on top. Greyscale input is
 * repeated to three channels when the base expects RGB.
 */
export function buildTransfer(
  f: LayerFactory,
  base: tfl.LayersModel,
  imageSize: number,
  numClasses: number,
): tfl.LayersModel {
  const inputShape = base.inputs[0]?.shape;
  if (base.inputs.length !== 1 || inputShape === undefined || inputShape.length !== 4) {
    throw new InvalidInputError(
      'the transfer base model must take one image input [batch, height, width, channels]',
    );
  }
  const [, h, w, c] = inputShape;
  if ((h !== null && h !== imageSize) || (w !== null && w !== imageSize)) {
    throw new InvalidInputError(
      `the transfer base model expects ${h}×${w} images but the data set is ${imageSize}×${imageSize}`,
      `use --image-size ${h ?? w} (imageSize=${h ?? w})`,
    );
  }
  if (c !== 1 && c !== 3)
    throw new InvalidInputError(
      `the transfer base model expects ${c} channels; only 1 (greyscale) or 3 (RGB) are supported`,
    );
  base.trainable = !f.hparams.freezeBase;
  const input = tfl.input({ shape: [imageSize, imageSize, 1], name: 'image' });
  const rgb =
    c === 3
      ? applyLayer(tfl.layers.concatenate({ name: 'grey_to_rgb', axis: -1 }), [input, input, input])
      : input;
  const features = applyLayer(base, rgb);
  return tfl.model({
    inputs: input,
    outputs: buildHead(f, features, numClasses),
    name: 'braintune_transfer',
  });
}
