import { describe, expect, it } from 'vitest';
import { HyperparametersSchema, resolveHyperparameters } from '@braintune/protocol';
import { parseSearchSpace, type SearchSpace } from './search-space.js';
import {
  enumerateSpace,
  hashHyperparameters,
  toHyperparameters,
  SearchSpaceSampler,
} from './space-sampling.js';

function space(raw: unknown): SearchSpace {
  const { space, problems } = parseSearchSpace(raw);
  expect(problems).toEqual([]);
  return space;
}

const RICH = space({
  learningRate: { type: 'float', min: 1e-4, max: 1e-2, sampling: 'log' },
  convDropout: { type: 'float', min: 0, max: 0.5, step: 0.1 },
  optimizer: ['adam', 'sgd', 'rmsprop'],
  momentum: { type: 'float', min: 0.5, max: 0.99, when: { optimizer: 'sgd' } },
  family: { type: 'choice', values: ['cnn', 'resnet'] },
  blocksPerStage: { type: 'int', min: 1, max: 3, when: { family: 'resnet' } },
  batchSize: { type: 'int', min: 16, max: 64, step: 16 },
  'augmentation.flip': { type: 'boolean' },
  'augmentation.rotation': { type: 'float', min: 0, max: 15, when: { 'augmentation.flip': true } },
  convBatchNorm: { type: 'fixed', value: true },
});

function sampleMany(sampler: SearchSpaceSampler, count: number) {
  const tried = new Set<string>();
  const out = [];
  for (let i = 0; i < count; i++) {
    const proposal = sampler.propose(i, tried);
    if (!proposal) break;
    tried.add(proposal.hpHash);
    out.push(proposal);
  }
  return out;
}

describe('search space sampling', () => {
  it('is reproducible for a seed and differs across seeds', () => {
    const a = sampleMany(new SearchSpaceSampler(RICH, 42), 30);
    const b = sampleMany(new SearchSpaceSampler(RICH, 42), 30);
    const c = sampleMany(new SearchSpaceSampler(RICH, 43), 30);
    expect(a).toEqual(b);
    expect(a.map((p) => p.hpHash)).not.toEqual(c.map((p) => p.hpHash));
    expect(new Set(a.map((p) => p.hpHash)).size).toBe(30);
  });

  it('produces full, valid hyperparameters inside the ranges, with conditions honoured', () => {
    const defaults = resolveHyperparameters();
    const samples = sampleMany(new SearchSpaceSampler(RICH, 1), 300).map((p) => p.hyperparameters);
    expect(samples).toHaveLength(300);
    for (const hp of samples) {
      expect(HyperparametersSchema.parse(hp)).toEqual(hp);
      expect(hp.learningRate).toBeGreaterThanOrEqual(1e-4);
      expect(hp.learningRate).toBeLessThanOrEqual(1e-2);
      expect([0, 0.1, 0.2, 0.3, 0.4, 0.5]).toContain(hp.convDropout);
      expect([16, 32, 48, 64]).toContain(hp.batchSize);
      expect(hp.convBatchNorm).toBe(true);
      // Inactive conditional parameters keep the default point's value.
      if (hp.optimizer !== 'sgd') expect(hp.momentum).toBe(defaults.momentum);
      if (hp.family !== 'resnet') expect(hp.blocksPerStage).toBe(defaults.blocksPerStage);
      if (!hp.augmentation.flip) expect(hp.augmentation.rotation).toBe(defaults.augmentation.rotation);
      // Untouched hyperparameters keep the seed CNN's defaults.
      expect(hp.denseUnits).toBe(defaults.denseUnits);
    }
    // Every branch of the conditions is reached.
    expect(samples.some((hp) => hp.optimizer === 'sgd' && hp.momentum !== defaults.momentum)).toBe(true);
    expect(
      samples.some((hp) => hp.family === 'resnet' && hp.blocksPerStage !== defaults.blocksPerStage),
    ).toBe(true);
    expect(samples.some((hp) => hp.augmentation.flip && hp.augmentation.rotation > 0)).toBe(true);
    // Log sampling puts about half of the draws below the geometric middle (1e-3).
    const below = samples.filter((hp) => hp.learningRate < 1e-3).length;
    expect(below).toBeGreaterThan(100);
    expect(below).toBeLessThan(200);
  });

  it('the empty space is the default point (the seed CNN), and it can be proposed once', () => {
    const sampler = new SearchSpaceSampler({}, 5);
    const first = sampler.propose(0, new Set());
    expect(first?.hyperparameters).toEqual(resolveHyperparameters());
    expect(sampler.propose(1, new Set([first!.hpHash]))).toBeNull();
  });

  it('hashes canonically: key order does not matter, values do', () => {
    const hp = resolveHyperparameters({ learningRate: 0.01, augmentation: { flip: true } });
    const reordered = Object.fromEntries(Object.entries(hp).reverse()) as typeof hp;
    expect(hashHyperparameters(reordered)).toBe(hashHyperparameters(hp));
    expect(hashHyperparameters(hp)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashHyperparameters({ ...hp, learningRate: 0.02 })).not.toBe(hashHyperparameters(hp));
  });

  it('uses up a tiny space completely, without duplicates, then reports exhaustion', () => {
    const tiny = space({
      'augmentation.flip': { type: 'boolean' },
      optimizer: ['adam', 'sgd'],
      momentum: { type: 'choice', values: [0.8, 0.9], when: { optimizer: 'sgd' } },
    });
    expect(enumerateSpace(tiny)).toHaveLength(6); // flip × (adam | sgd × 2 momenta)
    const proposals = sampleMany(new SearchSpaceSampler(tiny, 3), 100);
    expect(proposals).toHaveLength(6);
    expect(new Set(proposals.map((p) => p.hpHash)).size).toBe(6);
    expect(new SearchSpaceSampler(tiny, 3).propose(6, new Set(proposals.map((p) => p.hpHash)))).toBeNull();
  });

  it('reports no enumeration for continuous spaces', () => {
    expect(enumerateSpace(RICH)).toBeNull();
  });

  it('searches the acquisition-shift augmentation by dotted names, and bounds them by the protocol', () => {
    const augSpace = space({
      'augmentation.gamma': { type: 'float', min: 0, max: 1 },
      'augmentation.curve': { type: 'choice', values: [0, 0.5] },
      'augmentation.cropScale': { type: 'float', min: 0.5, max: 1 },
      'augmentation.verticalFlip': { type: 'boolean' },
    });
    expect(Object.keys(augSpace)).toHaveLength(4);
    const hp = toHyperparameters([
      ['augmentation.gamma', 0.5],
      ['augmentation.noise', 0.05],
    ]);
    expect(hp.augmentation).toMatchObject({ gamma: 0.5, noise: 0.05, flip: false, cropScale: 1 });
    const { problems } = parseSearchSpace({ 'augmentation.gamma': { type: 'float', min: 0, max: 5 } });
    expect(problems.join('\n')).toMatch(/augmentation\.gamma/);
  });
});
