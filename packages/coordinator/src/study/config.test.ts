import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '@braintune/protocol';
import { imageSizesOf } from './bundles.js';
import { parseStudyConfig } from './config.js';
import { StudyConfigError } from './problems.js';
import { TUNABLE_NAMES } from './search-space.js';

const VALID = `
name: brain-mri-hyperband
dataset:
  path: ../shared/datasets/brain-tumor-mri
  imageSize: 64
  valFraction: 0.2
searchSpace:
  learningRate: {type: float, min: 1e-4, max: 1e-2, sampling: log}
  optimizer: [adam, sgd]
  momentum: {type: float, min: 0.5, max: 0.99, when: {optimizer: sgd}}
  family: {type: choice, values: [cnn, resnet]}
  blocksPerStage: {type: int, min: 1, max: 3, when: {family: resnet}}
  batchSize: {type: int, min: 16, max: 64, step: 16}
  augmentation.flip: {type: boolean}
  convBatchNorm: true
scheduler: {type: hyperband, maxEpochs: 9, factor: 3, iterations: 1}
objective: {metric: val_macro_f1}
constraints:
  - {metric: "val_recall:glioma_tumor", min: 0.9}
budget: {maxTrials: 100, maxWallClockMinutes: 120}
seed: 7
`;

/** The problems of a config that must fail. */
function problemsOf(text: string, format: 'yaml' | 'json' = 'yaml', classes?: string[]): readonly string[] {
  try {
    parseStudyConfig(text, format, classes ? { classes } : {});
  } catch (error) {
    expect(error).toBeInstanceOf(StudyConfigError);
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as StudyConfigError).problems;
  }
  throw new Error('the config was accepted');
}

/** A valid config with one part replaced. */
function withPart(part: string): string {
  const base: Record<string, string> = {
    name: 'name: t',
    dataset: 'dataset: {path: /data}',
    searchSpace: 'searchSpace: {learningRate: {type: float, min: 0.0001, max: 0.01, sampling: log}}',
    scheduler: 'scheduler: {type: hyperband, maxEpochs: 9}',
  };
  const key = part.split(':')[0]!;
  base[key] = part;
  return Object.values(base).join('\n');
}

describe('parseStudyConfig', () => {
  it('parses a full YAML config into a normalised, typed config', () => {
    const config = parseStudyConfig(VALID);
    expect(config.name).toBe('brain-mri-hyperband');
    expect(config.dataset).toEqual({
      path: '../shared/datasets/brain-tumor-mri',
      valFraction: 0.2,
      seed: 7,
    });
    expect(config.scheduler).toEqual({ type: 'hyperband', maxEpochs: 9, factor: 3, iterations: 1 });
    expect(config.objective).toEqual({ metric: 'val_macro_f1', direction: 'max' });
    expect(config.constraints).toEqual([{ metric: 'val_recall:glioma_tumor', min: 0.9 }]);
    expect(config.budget).toEqual({ maxTrials: 100, maxWallClockMinutes: 120 });
    expect(config.searchSpace.learningRate).toEqual({ type: 'float', min: 1e-4, max: 1e-2, sampling: 'log' });
    expect(config.searchSpace.optimizer).toEqual({ type: 'choice', values: ['adam', 'sgd'] });
    expect(config.searchSpace.momentum?.when).toEqual({ optimizer: ['sgd'] });
    expect(config.searchSpace.convBatchNorm).toEqual({ type: 'fixed', value: true });
    // dataset.imageSize becomes a fixed parameter, so trials and bundles agree on one source.
    expect(config.searchSpace.imageSize).toEqual({ type: 'fixed', value: 64 });
    expect(imageSizesOf(config)).toEqual([64]);
    // Parents come before their conditional children.
    const names = Object.keys(config.searchSpace);
    expect(names.indexOf('optimizer')).toBeLessThan(names.indexOf('momentum'));
    expect(names.indexOf('family')).toBeLessThan(names.indexOf('blocksPerStage'));
  });

  it('is a fixed point: the normalised config parses (as JSON) to itself', () => {
    const config = parseStudyConfig(VALID);
    expect(parseStudyConfig(JSON.stringify(config), 'json')).toEqual(config);
    expect(parseStudyConfig(JSON.stringify(config))).toEqual(config);
  });

  it('fills defaults and takes the image sizes from the search space', () => {
    const config = parseStudyConfig(withPart('searchSpace: {imageSize: [128, 64]}'));
    expect(config.scheduler).toEqual({ type: 'hyperband', maxEpochs: 9, factor: 3, iterations: 1 });
    expect(config.objective).toEqual({ metric: 'val_macro_f1', direction: 'max' });
    expect(config.constraints).toEqual([]);
    expect(config.budget).toEqual({ maxTrials: null, maxWallClockMinutes: null });
    expect(config.seed).toBe(1);
    expect(config.dataset).toEqual({ path: '/data', valFraction: 0.2, seed: 1 });
    expect(imageSizesOf(config)).toEqual([64, 128]);
    expect(imageSizesOf(parseStudyConfig(withPart('searchSpace: {}')))).toEqual([64]);
    expect(parseStudyConfig(withPart('objective: {metric: val_loss}')).objective).toEqual({
      metric: 'val_loss',
      direction: 'min',
    });
  });

  it('names the field, the value and what is allowed for a bad factor', () => {
    expect(problemsOf(withPart('scheduler: {type: hyperband, maxEpochs: 9, factor: 1}'))).toEqual([
      'scheduler.factor: got 1, must be an integer ≥ 2',
    ]);
    expect(problemsOf(withPart('scheduler: {type: asha, maxEpochs: 9, factor: 2.5, maxTrials: 10}'))).toEqual(
      ['scheduler.factor: got 2.5, must be an integer ≥ 2'],
    );
  });

  it('rejects an unknown hyperparameter, listing the valid names', () => {
    expect(problemsOf(withPart('searchSpace: {learningrate: {type: float, min: 0.001, max: 0.1}}'))).toEqual([
      `searchSpace.learningrate: unknown hyperparameter, did you mean "learningRate"? valid names: ${TUNABLE_NAMES.join(', ')}`,
    ]);
    expect(TUNABLE_NAMES).toContain('augmentation.flip');
    expect(TUNABLE_NAMES).not.toContain('augmentation');
  });

  it('rejects values of the wrong type or outside what the hyperparameter accepts', () => {
    expect(problemsOf(withPart('searchSpace: {convBlocks: {type: int, min: 2, max: "five"}}'))).toEqual([
      'searchSpace.convBlocks.max: got "five", must be an integer',
    ]);
    expect(problemsOf(withPart('searchSpace: {convBlocks: {type: int, min: 2, max: 7}}'))).toEqual([
      'searchSpace.convBlocks.max: got 7, convBlocks must be an integer from 2 to 5',
    ]);
    expect(problemsOf(withPart('searchSpace: {denseUnits: {type: float, min: 16, max: 128}}'))).toEqual([
      'searchSpace.denseUnits.type: got "float", denseUnits must be an integer from 8 to 1024; use type int',
    ]);
    expect(problemsOf(withPart('searchSpace: {optimizer: [adam, sgdd]}'))).toEqual([
      'searchSpace.optimizer.values[1]: got "sgdd", optimizer must be one of adam, sgd, rmsprop',
    ]);
    expect(problemsOf(withPart('searchSpace: {kernelSize: {type: int, min: 3, max: 5}}'))).toEqual([
      'searchSpace.kernelSize.type: got "int", kernelSize must be 3 or 5; use choice, boolean or fixed',
    ]);
    expect(
      problemsOf(withPart('searchSpace: {learningRate: {type: float, min: 0, max: 0.1, sampling: log}}')),
    ).toEqual(['searchSpace.learningRate.min: got 0, log sampling needs min > 0']);
    expect(problemsOf(withPart('searchSpace: {learningRate: {type: gaussian}}'))).toEqual([
      'searchSpace.learningRate.type: got "gaussian", type must be one of int, float, choice, boolean, fixed',
    ]);
  });

  it('rejects bad conditions', () => {
    expect(
      problemsOf(
        withPart(
          'searchSpace: {optimizer: [adam, sgd], momentum: {type: float, min: 0.5, max: 0.9, when: {optimiser: sgd}}}',
        ),
      ),
    ).toEqual([
      'searchSpace.momentum.when.optimiser: optimiser is not in the search space, did you mean "optimizer"? a condition needs a searched parent (one of optimizer)',
    ]);
    expect(
      problemsOf(
        withPart(
          'searchSpace: {optimizer: [adam, sgd], momentum: {type: float, min: 0.5, max: 0.9, when: {optimizer: rmsprop}}}',
        ),
      ),
    ).toEqual(['searchSpace.momentum.when.optimizer: got "rmsprop", optimizer takes adam, sgd']);
    expect(
      problemsOf(
        withPart(
          'searchSpace: {pooling: {type: choice, values: [flatten, gap], when: {preciseBn: true}}, preciseBn: {type: boolean, when: {pooling: gap}}}',
        ),
      ),
    ).toEqual(['searchSpace.pooling.when: conditions form a cycle (pooling -> preciseBn -> pooling)']);
  });

  it('rejects bad metrics and class names in val_recall', () => {
    expect(problemsOf(withPart('objective: {metric: val_f1}'))).toEqual([
      'objective.metric: got "val_f1", must be one of val_macro_f1, val_accuracy, val_loss or val_recall:<class>',
    ]);
    expect(problemsOf(withPart('objective: {metric: val_loss, direction: max}'))).toEqual([
      'objective.direction: got "max", val_loss must be minimised (min)',
    ]);
    const classes = ['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor'];
    expect(problemsOf(withPart('objective: {metric: "val_recall:glioma"}'), 'yaml', classes)).toEqual([
      'objective.metric: got "val_recall:glioma", the class must be one of glioma_tumor, meningioma_tumor, no_tumor, pituitary_tumor',
    ]);
    expect(
      problemsOf(
        withPart('dataset: {path: /d, classes: [a, b]}') +
          '\nconstraints: [{metric: "val_recall:c", min: 0.5}]',
      ),
    ).toEqual(['constraints[0].metric: got "val_recall:c", the class must be one of a, b']);
    expect(problemsOf(withPart('name: t') + '\nconstraints: [{metric: val_accuracy}]')).toEqual([
      'constraints[0]: got {"metric":"val_accuracy"}, a constraint needs min, max or both',
    ]);
  });

  it('reports unknown keys with a suggestion, and every problem at once', () => {
    const problems = problemsOf(`
name: t
dataset: {path: /data, valFrac: 0.1}
searchSpace: {}
scheduler: {type: hyperband, maxEpoch: 9, factor: 1}
budget: {maxTrials: 0}
seeds: 3
`);
    expect(problems).toEqual([
      'dataset.valFrac: unknown key, did you mean "valFraction"? allowed: path, imageSize, valFraction, seed, classes, nearDuplicateThreshold',
      'scheduler.maxEpochs: got nothing, is required, must be an integer from 1 to 10000',
      'scheduler.factor: got 1, must be an integer ≥ 2',
      'scheduler.maxEpoch: unknown key, did you mean "maxEpochs"? allowed: type, maxEpochs, factor, iterations',
      'budget.maxTrials: got 0, must be an integer from 1 to 100000',
      'seeds: unknown key, did you mean "seed"? allowed: name, dataset, searchSpace, scheduler, sampler, warmStart, objective, constraints, budget, evaluation, seed',
    ]);
  });

  it('rejects the image size in two places and too many image sizes', () => {
    expect(
      problemsOf(
        withPart('dataset: {path: /d, imageSize: 64}').replace(
          /searchSpace: .*/,
          'searchSpace: {imageSize: [64, 128]}',
        ),
      ),
    ).toEqual([
      'dataset.imageSize: got 64, searchSpace.imageSize also sets the image size; keep only one of them',
    ]);
    expect(problemsOf(withPart('searchSpace: {imageSize: {type: int, min: 32, max: 256}}'))).toEqual([
      'searchSpace.imageSize: got {"type":"int","min":32,"max":256}, each size is its own dataset bundle: use a choice of at most 8 sizes',
    ]);
  });

  it('reports syntax errors with their position', () => {
    expect(problemsOf('name: t\nname: u\n')).toEqual([
      '(file): YAML syntax error at line 2, column 1: Map keys must be unique',
    ]);
    expect(problemsOf('{"name": ', 'json')[0]).toMatch(/^\(file\): not valid JSON: /);
    expect(problemsOf('- 1\n- 2\n')).toEqual([
      '(root): got [1,2], must be a mapping with name, dataset, searchSpace, scheduler, ...',
    ]);
  });
});

describe('evaluation.testSets', () => {
  it('defaults to none and parses named ImageFolder paths', () => {
    expect(parseStudyConfig(withPart('name: t')).evaluation).toEqual({ testSets: [] });
    const config = parseStudyConfig(
      `${withPart('name: t')}\nevaluation:\n  testSets:\n    - {name: external, path: /scans/other}\n    - {name: site-2.v1, path: rel/dir}\n`,
    );
    expect(config.evaluation.testSets).toEqual([
      { name: 'external', path: '/scans/other' },
      { name: 'site-2.v1', path: 'rel/dir' },
    ]);
    // The normalised config is itself a valid config.
    expect(parseStudyConfig(JSON.stringify(config), 'json').evaluation).toEqual(config.evaluation);
  });

  it('names every wrong field: repeated or malformed names, missing paths, unknown keys', () => {
    const problems = problemsOf(
      `${withPart('name: t')}\nevaluation:\n  testSets:\n    - {name: a, path: /x}\n    - {name: a, path: /y}\n`,
    );
    expect(problems.join('\n')).toMatch(/evaluation\.testSets.*must not repeat a test-set name/);
    const more = problemsOf(
      `${withPart('name: t')}\nevaluation:\n  testSets:\n    - {name: "a b", path: /x}\n    - {name: ok}\n    - {name: c, path: /z, weight: 2}\n`,
    ).join('\n');
    expect(more).toMatch(/evaluation\.testSets\[0\]\.name.*must be a name of 1–64 letters/);
    expect(more).toMatch(/evaluation\.testSets\[1\]\.path.*must be a directory path/);
    expect(more).toMatch(/evaluation\.testSets\[2\].*weight/);
  });
});
