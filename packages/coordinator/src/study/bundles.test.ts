import { describe, expect, it } from 'vitest';
import { InvalidInputError, type DatasetRef } from '@braintune/protocol';
import { datasetFor } from '../service/decisions.js';
import { defaultStudyFactory } from '../service/study-factory.js';
import { bundleVariantsOf } from './bundles.js';
import { parseStudyConfig } from './config.js';
import { SearchSpaceSampler } from './space-sampling.js';

const config = (dataset: string, searchSpace: string): string =>
  `name: t\ndataset: ${dataset}\nsearchSpace: ${searchSpace}\nscheduler: {type: random, epochs: 1, maxTrials: 50}\n`;

function problemsOf(text: string): readonly string[] {
  try {
    parseStudyConfig(text);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError & { problems: string[] }).problems;
  }
  throw new Error('the config was accepted');
}

describe('dataset bundles of a study', () => {
  it('is one bundle per (imageSize, canonical preprocessing) the search space can produce', () => {
    const parsed = parseStudyConfig(
      config(
        '{path: /d}',
        '{imageSize: [64, 128], preprocessing.headCrop: {type: boolean}, preprocessing.intensity: clahe, preprocessing.cropMargin: [0.05, 0.1]}',
      ),
    );
    const variants = bundleVariantsOf(parsed);
    // Without head crop the margin changes nothing: 2 sizes × (1 + 2 margins).
    expect(variants).toHaveLength(6);
    expect(variants).toContainEqual({
      imageSize: 128,
      preprocessing: { headCrop: false, cropMargin: 0.05, intensity: 'clahe' },
    });
    expect(variants).toContainEqual({
      imageSize: 64,
      preprocessing: { headCrop: true, cropMargin: 0.1, intensity: 'clahe' },
    });
  });

  it('is the single default bundle when the space leaves preprocessing out', () => {
    const parsed = parseStudyConfig(config('{path: /d, imageSize: 32}', '{}'));
    expect(bundleVariantsOf(parsed)).toEqual([
      { imageSize: 32, preprocessing: { headCrop: false, cropMargin: 0.05, intensity: 'none' } },
    ]);
  });

  it('gives every sampled trial a bundle that matches its hyperparameters', () => {
    const parsed = parseStudyConfig(
      config(
        '{path: /d}',
        '{imageSize: [32, 48], preprocessing.headCrop: {type: boolean}, preprocessing.intensity: [none, percentile]}',
      ),
    );
    const datasets: DatasetRef[] = bundleVariantsOf(parsed).map((v, i) => ({
      hash: i.toString(16).padStart(64, '0'),
      imageSize: v.imageSize,
      classes: ['a', 'b'],
      preprocessing: v.preprocessing,
    }));
    const sampler = new SearchSpaceSampler(parsed.searchSpace, 3);
    const used = new Set<string>();
    const tried = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const proposal = sampler.propose(i, tried);
      if (!proposal) throw new Error('the space ran out early');
      tried.add(proposal.hpHash);
      const hp = proposal.hyperparameters;
      const ref = datasetFor(datasets, hp);
      expect(ref.imageSize).toBe(hp.imageSize);
      expect(ref.preprocessing?.headCrop).toBe(hp.preprocessing.headCrop);
      expect(ref.preprocessing?.intensity).toBe(hp.preprocessing.intensity);
      used.add(ref.hash);
    }
    expect(used.size).toBe(8);
    expect(() => datasetFor(datasets.slice(1), { imageSize: 32 })).toThrow(/no dataset bundle/);
  });

  it('refuses a continuous preprocessing range and too many bundles', () => {
    expect(
      problemsOf(config('{path: /d}', '{preprocessing.cropMargin: {type: float, min: 0, max: 0.2}}')),
    ).toEqual([
      'searchSpace.preprocessing.cropMargin: got {"type":"float","min":0,"max":0.2}, each value is its own dataset bundle: use a choice of at most 8 values',
    ]);
    expect(
      problemsOf(
        config(
          '{path: /d}',
          '{imageSize: [32, 64, 128], preprocessing.intensity: [none, percentile, equalize, clahe]}',
        ),
      ),
    ).toEqual([
      'searchSpace: imageSize × preprocessing gives 12 dataset bundles; at most 8: search fewer sizes or preprocessing values',
    ]);
  });

  it('takes dataset.nearDuplicateThreshold as bits or off', () => {
    const off = defaultStudyFactory.parse(config('{path: /d, nearDuplicateThreshold: off}', '{}'));
    expect(off.dataset.nearDuplicateThreshold).toBeNull();
    const six = defaultStudyFactory.parse(config('{path: /d, nearDuplicateThreshold: 6}', '{}'));
    expect(six.dataset.nearDuplicateThreshold).toBe(6);
    expect(defaultStudyFactory.parse(config('{path: /d}', '{}')).dataset).not.toHaveProperty(
      'nearDuplicateThreshold',
    );
    expect(problemsOf(config('{path: /d, nearDuplicateThreshold: 99}', '{}'))).toEqual([
      'dataset.nearDuplicateThreshold: got 99, must be an integer from 0 to 64 or off',
    ]);
  });
});
