import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparameters } from '@braintune/protocol';
import { fusedAdam } from '../backend/fused-adam.js';

/** The optimizer named by the hyperparameters (sgd always with momentum, as in the search space). */
export function createOptimizer(hp: Hyperparameters): tf.Optimizer {
  switch (hp.optimizer) {
    case 'adam':
      return fusedAdam(hp.learningRate);
    case 'sgd':
      return tf.train.momentum(hp.learningRate, hp.momentum);
    case 'rmsprop':
      return tf.train.rmsprop(hp.learningRate);
  }
}

/** Learning rate at a fractional epoch (epoch 0 = start of training). */
export function learningRateAt(hp: Hyperparameters, epoch: number): number {
  if (hp.lrSchedule === 'constant') return hp.learningRate;
  const progress = Math.min(1, epoch / hp.scheduleEpochs);
  const floor = 0.01;
  return hp.learningRate * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/**
 * Changes the learning rate of a live optimizer, keeping its state. tfjs has a setter only
 * on SGD/momentum (which cache -lr in a tensor); adam and rmsprop read the field each step.
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  // Not `instanceof`: tfjs optimizers override Symbol.hasInstance with a duck-type check.
  const sgd = optimizer as Partial<Pick<tf.SGDOptimizer, 'setLearningRate'>>;
  if (typeof sgd.setLearningRate === 'function') {
    sgd.setLearningRate.call(optimizer, lr);
    return;
  }
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}
