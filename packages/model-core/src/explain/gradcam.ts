import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** A Grad-CAM map: importance of each cell of the last convolutional feature map, 0–1. */
export interface GradCamResult {
  /** Row-major [height, width], normalised so the maximum is 1 (all zeros when nothing argues for the class). */
  heatmap: Float32Array;
  width: number;
  height: number;
  /** The layer whose output the map was computed on. */
  layerName: string;
  classIndex: number;
}

type Layer = tfl.layers.Layer;

function outputRank(layer: Layer): number {
  const shape = layer.outputShape;
  // A layer with several outputs is not a feature map we can explain.
  if (Array.isArray(shape[0])) return -1;
  return (shape as (number | null)[]).length;
}

interface ExplainedLayer {
  layer: Layer;
  /** The layers from the explained one's output to the model's output, in order (each with one input). */
  chain: Layer[];
}

function singleInboundLayer(layer: Layer): Layer | null {
  const nodes = (layer as unknown as { inboundNodes: { inboundLayers: Layer[] }[] }).inboundNodes;
  const inbound = nodes[0]?.inboundLayers ?? [];
  return nodes.length === 1 && inbound.length === 1 ? (inbound[0] ?? null) : null;
}

/**
 * The feature map Grad-CAM explains: walking back from the output through layers that have
 * a single input, the first convolution met (the seed CNN's last conv block, before pooling
 * and dropout); where the single chain ends first, the feature map there: the output of the
 * last residual block (after its `add`), or a nested base model's output. The head after it
 * is then a plain chain of layers.
 */
export function findLastConvLayer(model: tfl.LayersModel): ExplainedLayer {
  let layer: Layer | undefined = model.layers[model.layers.length - 1];
  const chain: Layer[] = [];
  let fallback: ExplainedLayer | null = null;
  while (layer) {
    const rank = outputRank(layer);
    if (rank === 4) {
      if (/conv/i.test(layer.getClassName())) return { layer, chain: [...chain] };
      fallback ??= { layer, chain: [...chain] };
    }
    const previous = singleInboundLayer(layer);
    if (!previous || previous.getClassName() === 'InputLayer') {
      // A junction (residual add): explain the block's output just after it (its activation), as Grad-CAM does for ResNets.
      const next = chain[0];
      if (next && outputRank(next) === 4 && previous === null) return { layer: next, chain: chain.slice(1) };
      if (rank === 4) return { layer, chain: [...chain] };
      break;
    }
    chain.unshift(layer);
    layer = previous;
  }
  if (fallback) return fallback;
  throw new Error('model has no convolutional feature map to explain');
}

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

/**
 * Grad-CAM (Selvaraju et al., 2017): the gradient of the chosen class score with
 * respect to the last convolutional feature map, averaged over space, weights the
 * feature-map channels; their ReLU'd sum shows where the evidence for the class is.
 *
 * `input` is one preprocessed image batch [1, size, size, channels], as the model
 * takes it. `classIndex` defaults to the predicted class.
 */
export function gradCam(model: tfl.LayersModel, input: tf.Tensor4D, classIndex?: number): GradCamResult {
  if (input.shape[0] !== 1)
    throw new Error(`gradCam explains one image at a time, got a batch of ${input.shape[0]}`);
  const { layer, chain } = findLastConvLayer(model);
  const featureModel = tfl.model({ inputs: model.inputs, outputs: layer.output as tfl.SymbolicTensor });
  const head = headFunction(chain);

  const result = tf.tidy(() => {
    const featureMap = featureModel.predict(input) as tf.Tensor4D;
    const logits = head(featureMap);
    const chosen = classIndex ?? (tf.argMax(logits, 1).dataSync()[0] as number);
    const classes = logits.shape[1];
    if (!Number.isInteger(chosen) || chosen < 0 || chosen >= classes) {
      throw new Error(`class index ${chosen} is outside 0…${classes - 1}`);
    }
    const mask = tf.oneHot([chosen], classes);
    const grads = tf.grad((fm: tf.Tensor) => tf.sum(tf.mul(head(fm), mask)))(featureMap) as tf.Tensor4D;
    // Channel weights: spatial mean of the gradient (the paper's alpha_k^c).
    const weights = tf.mean(grads, [1, 2]); // [1, channels]
    const weighted = tf.squeeze(tf.sum(tf.mul(featureMap, tf.reshape(weights, [1, 1, 1, -1])), 3), [0]); // [h, w]
    const cam = tf.relu(weighted);
    const max = tf.max(cam);
    const normalised = tf.where(tf.greater(max, 0), tf.div(cam, tf.maximum(max, 1e-12)), tf.zerosLike(cam));
    return { map: normalised as tf.Tensor2D, chosen };
  });
  const [height, width] = result.map.shape;
  const heatmap = new Float32Array(result.map.dataSync());
  result.map.dispose();
  return { heatmap, width, height, layerName: layer.name, classIndex: result.chosen };
}
