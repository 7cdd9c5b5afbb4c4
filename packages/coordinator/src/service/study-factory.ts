import {
  assertClassNames,
  countConfigurations,
  bundleVariantsOf,
  parseStudyConfig,
  resolveStudyDataPath,
  scoreOf,
  type StudyConfig,
} from '../study/index.js';
import { createScheduler } from '../scheduling/index.js';
import type { StudyDefinition, StudyFactory } from './study-definition.js';

/** Study definitions from the config module (../study) and the schedulers (../scheduling). */
export const defaultStudyFactory: StudyFactory = {
  parse(input: string | object): StudyDefinition {
    const config: StudyConfig =
      typeof input === 'string'
        ? parseStudyConfig(input, 'yaml')
        : parseStudyConfig(JSON.stringify(input), 'json');
    return {
      name: config.name,
      config: JSON.parse(JSON.stringify(config)) as Record<string, unknown>,
      dataset: {
        path: resolveStudyDataPath(config.dataset.path),
        valFraction: config.dataset.valFraction,
        seed: config.dataset.seed,
        ...(config.dataset.nearDuplicateThreshold !== undefined
          ? {
              nearDuplicateThreshold:
                config.dataset.nearDuplicateThreshold === 'off'
                  ? null
                  : config.dataset.nearDuplicateThreshold,
            }
          : {}),
      },
      testSets: config.evaluation.testSets.map((t) => ({ name: t.name, path: resolveStudyDataPath(t.path) })),
      bundles: bundleVariantsOf(config),
      seed: config.seed,
      checkClasses: (classes) => assertClassNames(config, classes),
      score(evaluation, lastEpoch) {
        const source = evaluation ?? lastEpoch;
        if (!source) return { score: null, meetsConstraints: false };
        const r = scoreOf(source, config.objective, config.constraints);
        return { score: r.score, meetsConstraints: r.meetsConstraints };
      },
      createScheduler: (warmStart) => createScheduler(config, warmStart),
      distinctConfigurations: () => countConfigurations(config.searchSpace),
    };
  },
};
