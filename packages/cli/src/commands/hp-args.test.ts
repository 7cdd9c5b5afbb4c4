import { describe, expect, it } from 'vitest';
import type { InvalidInputError } from '@braintune/protocol';
import { parseHpArgs } from './hp-args.js';

describe('parseHpArgs', () => {
  it('accepts every augmentation field of the protocol, including the acquisition-shift ones', () => {
    expect(
      parseHpArgs(['augmentation.gamma=0.5', 'augmentation.verticalFlip=true', 'learningRate=0.001']),
    ).toEqual({
      learningRate: 0.001,
      augmentation: { gamma: 0.5, verticalFlip: true },
    });
    let hint: string | undefined;
    try {
      parseHpArgs(['augmentation.gama=0.5']);
    } catch (error) {
      hint = (error as InvalidInputError).hint;
    }
    expect(hint).toMatch(/augmentation\.gamma/);
  });
});
