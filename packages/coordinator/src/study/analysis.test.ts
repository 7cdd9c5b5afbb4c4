import { describe, expect, it } from 'vitest';
import { analyseStudy, StudyAnalysisSchema, type AnalysisRung } from './analysis.js';
import { parseSearchSpace } from './search-space.js';
import { SearchSpaceSampler } from './space-sampling.js';

const { space } = parseSearchSpace({
  learningRate: { type: 'float', min: 1e-4, max: 1e-1, sampling: 'log' },
  convDropout: { type: 'float', min: 0, max: 0.5 },
  optimizer: ['adam', 'sgd'],
  momentum: { type: 'choice', values: [0.8, 0.9], when: { optimizer: 'sgd' } },
  'augmentation.flip': { type: 'boolean' },
});

const sampler = new SearchSpaceSampler(space, 5);
const tried = new Set<string>();
/** 300 random configurations, reused cyclically by bigger studies (the analysis does not care). */
const POOL = Array.from({ length: 300 }, (_, i) => {
  const p = sampler.propose(i, tried)!;
  tried.add(p.hpHash);
  return p.hyperparameters;
});

/** n trials whose score depends on the learning rate only (peak at 3e-3). */
function study(n: number) {
  const trials = [];
  const results: AnalysisRung[] = [];
  for (let i = 0; i < n; i++) {
    const hyperparameters = POOL[i % POOL.length]!;
    trials.push({ index: i, hyperparameters });
    const score = -Math.abs(Math.log10(hyperparameters.learningRate) + 2.5) - i * 1e-9;
    results.push({ trialIndex: i, fromEpoch: 0, toEpoch: 3, score });
  }
  return { trials, results };
}

describe('study analysis', () => {
  it('ranks the parameter that decides the objective first (PED-ANOVA)', () => {
    const a = analyseStudy({ space, direction: 'max', ...study(300) });
    expect(StudyAnalysisSchema.parse(a)).toEqual(a);
    expect(a.importance[0]!.name).toBe('learningRate');
    expect(a.importance[0]!.importance).toBeGreaterThan(0.5);
    expect(a.importance.reduce((s, x) => s + x.importance, 0)).toBeCloseTo(1, 3);
    expect(a.importanceBudget).toBe(3);
    // Inactive conditional values are null, not the protocol default.
    const momentum = a.parameters.findIndex((p) => p.name === 'momentum');
    const optimizer = a.parameters.findIndex((p) => p.name === 'optimizer');
    for (const point of a.points)
      if (point.values[optimizer] === 'adam') expect(point.values[momentum]).toBeNull();
  });

  it('reports the best so far against epochs, in the natural direction', () => {
    const { trials, results } = study(50);
    const a = analyseStudy({ space, direction: 'min', trials, results });
    expect(a.history.map((h) => h.epochs)).toEqual(results.map((_, i) => 3 * (i + 1)));
    for (let i = 1; i < a.history.length; i++)
      expect(a.history[i]!.best!).toBeLessThanOrEqual(a.history[i - 1]!.best!);
  });

  it('bounds what it returns at 10,000 trials and keeps the best ones', () => {
    const data = study(10_000);
    const a = analyseStudy({ space, direction: 'max', ...data });
    expect(a.trials).toBe(10_000);
    expect(a.sampled).toBe(true);
    expect(a.points.length).toBeLessThanOrEqual(2000);
    expect(a.history.length).toBeLessThanOrEqual(2100);
    const best = Math.max(...data.results.map((r) => r.score!));
    expect(Math.max(...a.points.map((p) => p.objective))).toBe(best);
    expect(a.history.at(-1)!.best).toBe(best);
  });
});
