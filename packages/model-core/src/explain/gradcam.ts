import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CamMethodSchema, InvalidInputError, type CamMethod } from '@braintune/protocol';
import { resolveCamLayer, type CamLayerChoice } from './layers.js';

/**
 * How the channels of the feature map are weighted (CamMethodSchema): `gradcam` (Selvaraju et al.,
 * 2017: spatial mean of the gradient per channel), `gradcam++` (Chattopadhay et al., 2018: positive
 * gradients weighted by the closed-form alpha, which lets several separate regions of one class all
 * show), `layercam` (Jiang et al., 2021: every cell weighted by its own positive gradient, which
 * keeps fine layers from averaging their evidence away).
 */
export { CamMethodSchema, type CamMethod };

export interface GradCamOptions {
  method?: CamMethod;
  /** `last` (the original: last conv, coarse), `fine` (≥ minCells a side) or a layer name. */
  layer?: CamLayerChoice;
  /** Smallest side of the map `fine` accepts. Default 12. */
  minCells?: number;
}

/**
 * The default explanation, chosen by \`npm run bench:pointing\` (docs/explanations.md): the one
 * whose peak lands on the phantoms' lesions most often.
 */
export const DEFAULT_CAM: Required<Pick<GradCamOptions, 'method' | 'layer'>> = {
  method: 'gradcam++',
  layer: 'fine',
};

/** A Grad-CAM map: importance of each cell of the last convolutional feature map, 0–1. */
export interface GradCamResult {
  /** Row-major [height, width], normalised so the maximum is 1 (all zeros when nothing argues for the class). */
  heatmap: Float32Array;
  width: number;
  height: number;
  /** The layer whose output the map was computed on. */
  layerName: string;
  classIndex: number;
  method: CamMethod;
}

type Layer = tfl.layers.Layer;

/**
 * Class score as a function of the feature map: the head's layers applied in order, with
 * the final softmax left out so the score is the logit (as in Selvaraju et al.: gradients
 * of a saturated probability vanish and give empty maps).
 */
function headFunction(chain: Layer[]): (featureMap: tf.Tensor) => tf.Tensor2D {
  const last = chain[chain.length - 1];
  const lastConfig = last?.getConfig();
  const lastIsSoftmaxDense = last?.getClassName() === 'Dense' && lastConfig?.activation === 'softmax';
  return (featureMap) => {
    let y: tf.Tensor = featureMap;
    const layers = lastIsSoftmaxDense ? chain.slice(0, -1) : chain;
    for (const layer of layers) y = layer.apply(y, { training: false }) as tf.Tensor;
    if (lastIsSoftmaxDense && last) {
      const [kernel, bias] = last.getWeights();
      y = tf.matMul(y as tf.Tensor2D, kernel as tf.Tensor2D);
      if (bias && lastConfig?.useBias !== false) y = tf.add(y, bias);
    }
    return y as tf.Tensor2D;
  };
}

/** Per-cell weights of the feature map [1, h, w, k] from its gradient, by method. */
function cellWeights(method: CamMethod, featureMap: tf.Tensor4D, grads: tf.Tensor4D): tf.Tensor4D {
  switch (method) {
    case 'gradcam':
      // The paper's alpha_k^c: spatial mean of the gradient, broadcast over the cells.
      return tf.mean(grads, [1, 2], true);
    case 'gradcam++': {
      // alpha = g² / (2g² + Σ_ij A·g³), 0 where the denominator vanishes; w_k = Σ_ij alpha·relu(g).
      const g2 = tf.square(grads);
      const g3 = tf.mul(g2, grads);
      const denominator = tf.add(tf.mul(g2, 2), tf.sum(tf.mul(featureMap, g3), [1, 2], true));
      const safe = tf.where(tf.notEqual(denominator, 0), denominator, tf.onesLike(denominator));
      const alpha = tf.where(tf.notEqual(denominator, 0), tf.div(g2, safe), tf.zerosLike(g2));
      return tf.sum(tf.mul(alpha, tf.relu(grads)), [1, 2], true);
    }
    case 'layercam':
      return tf.relu(grads);
  }
}

/**
 * Class-activation map of one image: the gradient of the chosen class score with respect to
 * a feature map weights its channels (see CamMethodSchema); their ReLU'd sum shows where the
 * evidence for the class is. Default: DEFAULT_CAM.
 *
 * `input` is one preprocessed image batch [1, size, size, channels], as the model
 * takes it. `classIndex` defaults to the predicted class.
 */
export function gradCam(
  model: tfl.LayersModel,
  input: tf.Tensor4D,
  classIndex?: number,
  options: GradCamOptions = {},
): GradCamResult {
  if (input.shape[0] !== 1)
    throw new InvalidInputError(
      `gradCam explains one image at a time, got a batch of ${input.shape[0]}`,
      'pass a batch of one image',
    );
  const method = options.method ?? DEFAULT_CAM.method;
  if (!CamMethodSchema.safeParse(method).success)
    throw new InvalidInputError(
      `unknown Grad-CAM method "${String(method)}"`,
      `use one of ${CamMethodSchema.options.join(', ')}`,
    );
  const { layer, chain } = resolveCamLayer(model, options.layer ?? DEFAULT_CAM.layer, options.minCells);
  const featureModel = tfl.model({ inputs: model.inputs, outputs: layer.output as tfl.SymbolicTensor });
  const head = headFunction(chain);

  const result = tf.tidy(() => {
    const featureMap = featureModel.predict(input) as tf.Tensor4D;
    const logits = head(featureMap);
    const chosen = classIndex ?? (tf.argMax(logits, 1).dataSync()[0] as number);
    const classes = logits.shape[1];
    if (!Number.isInteger(chosen) || chosen < 0 || chosen >= classes) {
      throw new InvalidInputError(
        `class index ${chosen} is outside 0…${classes - 1}`,
        'pick an output class',
      );
    }
    const mask = tf.oneHot([chosen], classes);
    const grads = tf.grad((fm: tf.Tensor) => tf.sum(tf.mul(head(fm), mask)))(featureMap) as tf.Tensor4D;
    const weights = cellWeights(method, featureMap, grads);
    const weighted = tf.squeeze(tf.sum(tf.mul(featureMap, weights), 3), [0]); // [h, w]
    const cam = tf.relu(weighted);
    const max = tf.max(cam);
    const normalised = tf.where(tf.greater(max, 0), tf.div(cam, tf.maximum(max, 1e-12)), tf.zerosLike(cam));
    return { map: normalised as tf.Tensor2D, chosen };
  });
  const [height, width] = result.map.shape;
  const heatmap = new Float32Array(result.map.dataSync());
  result.map.dispose();
  return { heatmap, width, height, layerName: layer.name, classIndex: result.chosen, method };
}
