import * as tfl from '@tensorflow/tfjs-layers';
import { applyLayer, buildHead, type LayerFactory } from './layers.js';

/**
 * The plain CNN family (the seed's shape): `convBlocks` blocks of `convsPerBlock`
 * convolutions (filters baseFilters·2^block, optional BN, ReLU) + 2×2 max-pool + dropout.
 */
export function buildCnn(f: LayerFactory, imageSize: number, numClasses: number): tfl.LayersModel {
  const hp = f.hparams;
  const input = tfl.input({ shape: [imageSize, imageSize, 1], name: 'image' });
  let x: tfl.SymbolicTensor = input;
  for (let b = 0; b < hp.convBlocks; b++) {
    const filters = hp.baseFilters * 2 ** b;
    for (let c = 0; c < hp.convsPerBlock; c++) {
      const name = `block${b + 1}_conv${c + 1}`;
      if (hp.convBatchNorm) {
        // The bias is redundant in front of BN (its beta plays that role).
        x = applyLayer(f.conv(name, filters, { useBias: false }), x);
        x = applyLayer(f.batchNorm(`block${b + 1}_bn${c + 1}`), x);
        x = applyLayer(tfl.layers.reLU({ name: `block${b + 1}_relu${c + 1}` }), x);
      } else {
        x = applyLayer(f.conv(name, filters, { activation: 'relu' }), x);
      }
    }
    x = applyLayer(tfl.layers.maxPooling2d({ name: `block${b + 1}_pool`, poolSize: 2, strides: 2 }), x);
    if (hp.convDropout > 0) x = applyLayer(f.dropout(`block${b + 1}_dropout`, hp.convDropout), x);
  }
  return tfl.model({ inputs: input, outputs: buildHead(f, x, numClasses), name: 'braintune_cnn' });
}
