import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { seededDropout } from '../backend/fast-random.js';
import { deriveSeed } from '../training/rng.js';

interface SeededDropoutArgs {
  rate: number;
  seed: number;
  name?: string;
}

/**
 * Dropout whose mask is a pure function of (seed, training step).
 *
 * tfjs's own Dropout with a fixed seed draws the same mask on every call, and without a
 * seed it uses Math.random, so a resumed run could never repeat an uninterrupted one.
 * Here every training call advances `step`; the training loop sets `step` from the
 * checkpoint on resume (see `setDropoutStep`), so masks continue exactly where they were.
 */
export class SeededDropout extends tfl.layers.Layer {
  static readonly className = 'BraintuneSeededDropout';
  readonly rate: number;
  readonly seed: number;
  /** Training calls made so far (one per optimisation step). */
  step = 0;
  /** When set, training calls pass inputs through (and do not advance `step`): used by precise BN. */
  bypass = false;

  constructor(args: SeededDropoutArgs) {
    super({ name: args.name });
    this.rate = args.rate;
    this.seed = args.seed;
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x === undefined) throw new Error('SeededDropout expects one input');
    if (kwargs.training !== true || this.rate <= 0 || this.bypass) return x.clone();
    const seed = deriveSeed(this.seed, this.step);
    this.step += 1;
    // One Multiply by a hashed mask (backend/fast-random.ts): tf.dropout's alea draws cost ~20 ms per step.
    return seededDropout(x, this.rate, seed);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(SeededDropout);

/** Every SeededDropout in a model, nested models included. */
export function seededDropoutLayers(model: tfl.LayersModel): SeededDropout[] {
  const found: SeededDropout[] = [];
  const visit = (layers: tfl.layers.Layer[]): void => {
    for (const layer of layers) {
      if (layer instanceof SeededDropout) found.push(layer);
      else if (layer instanceof tfl.LayersModel) visit(layer.layers);
    }
  };
  visit(model.layers);
  return found;
}

/** Puts every dropout layer at optimisation step `step` (used when resuming). */
export function setDropoutStep(model: tfl.LayersModel, step: number): void {
  for (const layer of seededDropoutLayers(model)) layer.step = step;
}
