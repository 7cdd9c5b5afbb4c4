import type * as tfl from '@tensorflow/tfjs-layers';
import { InvalidInputError } from '@braintune/protocol';

type Layer = tfl.layers.Layer;

export interface ExplainedLayer {
  layer: Layer;
  /** The layers from the explained one's output to the model's output, in order (each with one input). */
  chain: Layer[];
}

/**
 * Which feature map to explain: `last` = the last convolution (the original default, coarse:
 * 3×3–6×6 cells at 48 px), `fine` = the finest map of the model's last single chain with at least
 * `minCells` cells a side, taken after its activation, or a layer name.
 */
export type CamLayerChoice = 'last' | 'fine' | (string & {});

function outputRank(layer: Layer): number {
  const shape = layer.outputShape;
  // A layer with several outputs is not a feature map we can explain.
  if (Array.isArray(shape[0])) return -1;
  return (shape as (number | null)[]).length;
}

function outputSide(layer: Layer): number {
  return Number((layer.outputShape as (number | null)[])[1] ?? 0);
}

function singleInboundLayer(layer: Layer): Layer | null {
  const nodes = (layer as unknown as { inboundNodes: { inboundLayers: Layer[] }[] }).inboundNodes;
  const inbound = nodes[0]?.inboundLayers ?? [];
  return nodes.length === 1 && inbound.length === 1 ? (inbound[0] ?? null) : null;
}

/**
 * The feature map Grad-CAM explains by default: walking back from the output through layers that have
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

/** Every layer of the single chain that ends at the output, in forward order, each with its head. */
function singleChain(model: tfl.LayersModel): ExplainedLayer[] {
  const layers: Layer[] = [];
  let layer: Layer | null = model.layers[model.layers.length - 1] ?? null;
  while (layer && layer.getClassName() !== 'InputLayer') {
    layers.unshift(layer);
    layer = singleInboundLayer(layer);
  }
  return layers.map((l, i) => ({ layer: l, chain: layers.slice(i + 1) }));
}

// Layers that only move or drop cells: the map before them is the same evidence, finer or unmasked.
const PASS_THROUGH = /pool|dropout|reshape|flatten|crop|padding/i;

/**
 * The finest useful feature map: of the layers on the output's single chain with at least
 * `minCells` cells a side, the last convolution's activated output (the layer just before the
 * block's pooling). A model whose single chain is shorter (ResNet: it ends at the last `add`)
 * falls back to `findLastConvLayer`.
 */
export function findFineLayer(model: tfl.LayersModel, minCells = 12): ExplainedLayer {
  const chain = singleChain(model).filter(
    ({ layer }) => outputRank(layer) === 4 && !PASS_THROUGH.test(layer.getClassName()),
  );
  let seenConv = false;
  let best: ExplainedLayer | null = null;
  for (const entry of chain) {
    if (/conv/i.test(entry.layer.getClassName())) seenConv = true;
    if (seenConv && outputSide(entry.layer) >= minCells) best = entry;
  }
  return best ?? findLastConvLayer(model);
}

/** A named layer of the output's single chain (its head must be a chain for the gradient). */
export function findNamedLayer(model: tfl.LayersModel, name: string): ExplainedLayer {
  const entry = singleChain(model).find(({ layer }) => layer.name === name);
  if (entry && outputRank(entry.layer) === 4) return entry;
  const last = findLastConvLayer(model);
  if (last.layer.name === name) return last;
  const names = singleChain(model)
    .filter(({ layer }) => outputRank(layer) === 4)
    .map(({ layer }) => layer.name);
  throw new InvalidInputError(
    `layer "${name}" is not a feature map Grad-CAM can explain in this model`,
    `use "last", "fine" or one of: ${[...new Set([...names, last.layer.name])].join(', ')}`,
  );
}

export function resolveCamLayer(
  model: tfl.LayersModel,
  choice: CamLayerChoice,
  minCells = 12,
): ExplainedLayer {
  if (choice === 'last') return findLastConvLayer(model);
  if (choice === 'fine') return findFineLayer(model, minCells);
  return findNamedLayer(model, choice);
}
