import * as tfl from '@tensorflow/tfjs-layers';
import { applyLayer, buildHead, type LayerFactory } from './layers.js';

/**
 * The residual family: a stem convolution, then `convBlocks` stages of `blocksPerStage`
 * basic residual blocks (two k×k convolutions + identity or 1×1 projection shortcut).
 * Every stage after the first halves the resolution with a stride-2 first convolution.
 */
export function buildResnet(f: LayerFactory, imageSize: number, numClasses: number): tfl.LayersModel {
  const hp = f.hparams;
  const bn = hp.convBatchNorm;
  const input = tfl.input({ shape: [imageSize, imageSize, 1], name: 'image' });
  const convBnRelu = (
    x: tfl.SymbolicTensor,
    name: string,
    filters: number,
    strides: number,
    relu: boolean,
  ): tfl.SymbolicTensor => {
    let y = applyLayer(f.conv(`${name}_conv`, filters, { strides, useBias: !bn }), x);
    if (bn) y = applyLayer(f.batchNorm(`${name}_bn`), y);
    if (relu) y = applyLayer(tfl.layers.reLU({ name: `${name}_relu` }), y);
    return y;
  };
  let x = convBnRelu(input, 'stem', hp.baseFilters, 1, true);
  let channels = hp.baseFilters;
  for (let s = 0; s < hp.convBlocks; s++) {
    const filters = hp.baseFilters * 2 ** s;
    for (let b = 0; b < hp.blocksPerStage; b++) {
      const name = `stage${s + 1}_block${b + 1}`;
      const strides = s > 0 && b === 0 ? 2 : 1;
      const y = convBnRelu(
        convBnRelu(x, `${name}_a`, filters, strides, true),
        `${name}_b`,
        filters,
        1,
        false,
      );
      let shortcut = x;
      if (strides !== 1 || channels !== filters) {
        shortcut = applyLayer(f.conv(`${name}_proj`, filters, { kernelSize: 1, strides, useBias: !bn }), x);
        if (bn) shortcut = applyLayer(f.batchNorm(`${name}_proj_bn`), shortcut);
      }
      x = applyLayer(tfl.layers.add({ name: `${name}_add` }), [y, shortcut]);
      x = applyLayer(tfl.layers.reLU({ name: `${name}_out` }), x);
      channels = filters;
    }
    if (hp.convDropout > 0) x = applyLayer(f.dropout(`stage${s + 1}_dropout`, hp.convDropout), x);
  }
  return tfl.model({ inputs: input, outputs: buildHead(f, x, numClasses), name: 'braintune_resnet' });
}
