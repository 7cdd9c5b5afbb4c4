import { parseDocument } from 'yaml';
import { z } from 'zod';
import { HyperparametersSchema } from '@braintune/protocol';
import { ConstraintSchema, ObjectiveSchema, recallClassOf, type MetricName } from './objective.js';
import { formatPath, showValue, StudyConfigError, valueAt, zodProblems } from './problems.js';
import {
  SamplerConfigSchema,
  WarmStartSchema,
  type SamplerConfig,
  type WarmStart,
} from './sampler-config.js';
import { parseSearchSpace, type SearchSpace } from './search-space.js';
import { bundleProblems, imageSizeProblems } from './bundles.js';

/**
 * A study config (YAML or JSON): what to tune, on which data, with which scheduler, toward which
 * objective, within which budget. `parseStudyConfig` returns a normalised config that is itself a
 * valid config (parsing its JSON again gives the same value), so it can be stored as is.
 */

const int = (min: number, max?: number) => {
  const text = max === undefined ? `must be an integer ≥ ${min}` : `must be an integer from ${min} to ${max}`;
  const schema = z.number({ error: text }).int({ error: text }).min(min, { error: text });
  return max === undefined ? schema : schema.max(max, { error: text });
};

/**
 * Most trials one study may ask for: every trial is a row, a job and a checkpoint, and one
 * client must not be able to make the cluster plan (and store) an unbounded study.
 */
export const MAX_TRIALS = 100_000;

export const HyperbandConfigSchema = z.strictObject({
  type: z.literal('hyperband'),
  /** Epochs of the longest training (KerasTuner's `max_epochs`). */
  maxEpochs: int(1, 10_000),
  factor: int(2).default(3),
  /** Full Hyperband sweeps (KerasTuner's `hyperband_iterations`). */
  iterations: int(1, 100).default(1),
});
export const AshaConfigSchema = z
  .strictObject({
    type: z.literal('asha'),
    maxEpochs: int(1, 10_000),
    minEpochs: int(1, 10_000).default(1),
    factor: int(2).default(3),
    maxTrials: int(1, MAX_TRIALS),
  })
  .refine((asha) => asha.minEpochs <= asha.maxEpochs, {
    path: ['minEpochs'],
    error: 'must be ≤ maxEpochs',
  });
export const RandomConfigSchema = z.strictObject({
  type: z.literal('random'),
  epochs: int(1, 10_000),
  maxTrials: int(1, MAX_TRIALS),
});
export const SchedulerConfigSchema = z.discriminatedUnion(
  'type',
  [HyperbandConfigSchema, AshaConfigSchema, RandomConfigSchema],
  { error: 'type must be one of hyperband, asha, random' },
);
export type HyperbandConfig = z.output<typeof HyperbandConfigSchema>;
export type AshaConfig = z.output<typeof AshaConfigSchema>;
export type RandomConfig = z.output<typeof RandomConfigSchema>;
export type SchedulerConfig = z.output<typeof SchedulerConfigSchema>;

/** The protocol's bounds of `imageSize`, so both places accept the same sizes. */
const IMAGE_SIZE_FIELD = HyperparametersSchema.shape.imageSize.unwrap();

const THRESHOLD_TEXT = 'must be an integer from 0 to 64 or off';

export const DatasetConfigSchema = z.strictObject({
  /** Directory with one sub-directory of images per class. */
  path: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }),
  /** Square input size; or set `searchSpace.imageSize` to tune it (not both). */
  imageSize: int(IMAGE_SIZE_FIELD.minValue ?? 1, IMAGE_SIZE_FIELD.maxValue ?? 4096).optional(),
  valFraction: z
    .number({ error: 'must be a number > 0 and < 1' })
    .gt(0, { error: 'must be a number > 0 and < 1' })
    .lt(1, { error: 'must be a number > 0 and < 1' })
    .default(0.2),
  /** Seed of the stratified split; defaults to the study seed. */
  seed: int(0, 2 ** 32 - 1).optional(),
  /** Class sub-directories to use (default: all); also checks `val_recall:<class>` names. */
  classes: z
    .array(z.string().min(1), { error: 'must be a list of class directory names' })
    .min(2, { error: 'must list at least 2 classes' })
    .refine((list) => new Set(list).size === list.length, { error: 'must not repeat a class' })
    .optional(),
  /**
   * Near-duplicate split: images whose perceptual hashes (dHash and pHash) are both within this
   * many bits stay on one side of the split; `off` groups byte-identical copies only. Default:
   * model-core's (8, chosen on the shared data set).
   */
  nearDuplicateThreshold: z
    .union(
      [
        z
          .number()
          .int({ error: THRESHOLD_TEXT })
          .min(0, { error: THRESHOLD_TEXT })
          .max(64, { error: THRESHOLD_TEXT }),
        z.literal('off'),
      ],
      { error: THRESHOLD_TEXT },
    )
    .optional(),
});

const TEST_SET_NAME =
  'must be a name of 1–64 letters, digits, "_", "-" or "." starting with a letter or digit';

export const TestSetConfigSchema = z.strictObject({
  /** Shown as a leaderboard column and as the key of `best.test` in `braintune status --json`. */
  name: z
    .string({ error: TEST_SET_NAME })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { error: TEST_SET_NAME }),
  /** ImageFolder whose class folders are a subset of the study's classes. */
  path: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }),
});

/** External test sets: scored after every rung, shown beside the objective, never ranked on. */
export const EvaluationConfigSchema = z.strictObject({
  testSets: z
    .array(TestSetConfigSchema, { error: 'must be a list of {name, path}' })
    .max(8, { error: 'must list at most 8 test sets' })
    .refine((list) => new Set(list.map((t) => t.name)).size === list.length, {
      error: 'must not repeat a test-set name',
    })
    .default([]),
});

export const BudgetSchema = z.strictObject({
  maxTrials: int(1, MAX_TRIALS).nullable().default(null),
  maxWallClockMinutes: z
    .number({ error: 'must be a number of minutes > 0' })
    .positive({ error: 'must be a number of minutes > 0' })
    .nullable()
    .default(null),
});
export type Budget = z.output<typeof BudgetSchema>;

const TopLevelSchema = z.strictObject({
  name: z
    .string({ error: 'must be a non-empty name of at most 200 characters' })
    .trim()
    .min(1, { error: 'must be a non-empty name of at most 200 characters' })
    .max(200, { error: 'must be a non-empty name of at most 200 characters' }),
  dataset: DatasetConfigSchema,
  searchSpace: z.unknown().optional(),
  scheduler: SchedulerConfigSchema,
  sampler: SamplerConfigSchema.default({ type: 'random' }),
  warmStart: WarmStartSchema.optional(),
  objective: ObjectiveSchema.default({ metric: 'val_macro_f1', direction: 'max' }),
  constraints: z.array(ConstraintSchema, { error: 'must be a list of {metric, min?, max?}' }).default([]),
  budget: BudgetSchema.default({ maxTrials: null, maxWallClockMinutes: null }),
  evaluation: EvaluationConfigSchema.default({ testSets: [] }),
  seed: int(0, 2 ** 32 - 1).default(1),
});

export interface StudyConfig {
  name: string;
  dataset: {
    path: string;
    valFraction: number;
    seed: number;
    classes?: string[];
    nearDuplicateThreshold?: number | 'off';
  };
  /** Includes `imageSize` as a fixed parameter when the config set it under `dataset`. */
  searchSpace: SearchSpace;
  scheduler: SchedulerConfig;
  /** How new configurations are proposed (default random: today's draws). */
  sampler: SamplerConfig;
  /** Earlier studies whose results seed the sampler. */
  warmStart?: WarmStart;
  objective: z.output<typeof ObjectiveSchema>;
  constraints: z.output<typeof ConstraintSchema>[];
  budget: Budget;
  evaluation: { testSets: { name: string; path: string }[] };
  seed: number;
}

export interface ParseStudyConfigOptions {
  /**
   * Class names of the data set, when the caller knows them (e.g. after listing the dataset
   * directory): `val_recall:<class>` metrics are checked against them. `dataset.classes` in the
   * config is used when this is absent.
   */
  classes?: readonly string[];
}

function readText(text: string, format: 'yaml' | 'json'): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new StudyConfigError([`(file): not valid JSON: ${(error as Error).message}`]);
    }
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new StudyConfigError(
      document.errors.map((error) => {
        const at = error.linePos?.[0];
        const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return `(file): YAML syntax error${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${message}`;
      }),
    );
  }
  return document.toJS() as unknown;
}

/** Problems with `val_recall:<class>` metrics naming a class the data set does not have. */
export function classNameProblems(
  config: Pick<StudyConfig, 'objective' | 'constraints'>,
  classes: readonly string[],
): string[] {
  const problems: string[] = [];
  const check = (metric: MetricName, path: (string | number)[]): void => {
    const name = recallClassOf(metric);
    if (name !== null && !classes.includes(name)) {
      problems.push(
        `${formatPath(path)}: got ${showValue(metric)}, the class must be one of ${classes.join(', ')}`,
      );
    }
  };
  check(config.objective.metric, ['objective', 'metric']);
  config.constraints.forEach((constraint, i) => check(constraint.metric, ['constraints', i, 'metric']));
  return problems;
}

/** Throws a `StudyConfigError` when a `val_recall:<class>` metric names an unknown class. */
export function assertClassNames(config: StudyConfig, classes: readonly string[]): void {
  const problems = classNameProblems(config, classes);
  if (problems.length > 0) throw new StudyConfigError(problems);
}

/**
 * Parses and validates a study config. Throws one `StudyConfigError` (an `InvalidInputError`)
 * whose `problems` list every field that is wrong, e.g.
 * `scheduler.factor: got 1, must be an integer ≥ 2`.
 */
export function parseStudyConfig(
  text: string,
  format: 'yaml' | 'json' = 'yaml',
  options: ParseStudyConfigOptions = {},
): StudyConfig {
  const raw = readText(text, format);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new StudyConfigError([
      `(root): got ${showValue(raw)}, must be a mapping with name, dataset, searchSpace, scheduler, ...`,
    ]);
  }
  return validateStudyConfig(raw, options);
}

/** Every problem of a parsed config document at once, or the config with its defaults. */
function validateStudyConfig(data: object, options: ParseStudyConfigOptions): StudyConfig {
  const problems: string[] = [];
  const top = TopLevelSchema.safeParse(data);
  if (!top.success) problems.push(...zodProblems(top.error, TopLevelSchema, data));
  const record = data as Record<string, unknown>;
  const { space, problems: spaceProblems } = parseSearchSpace(record.searchSpace);
  problems.push(...spaceProblems);
  // Class names are checked even when other fields are wrong, so every problem shows at once.
  problems.push(...classProblems(record, options));
  if (top.success) problems.push(...imageSizeProblems(top.data.dataset, space, data));
  if (problems.length === 0) problems.push(...bundleProblems(space, data));
  if (problems.length > 0 || !top.success) throw new StudyConfigError(problems);
  return assembleConfig(top.data, space);
}

/** Class names the objective and constraints use that the data set does not have. */
function classProblems(record: Record<string, unknown>, options: ParseStudyConfigOptions): string[] {
  const datasetClasses = DatasetConfigSchema.shape.classes.safeParse(valueAt(record, ['dataset', 'classes']));
  const classes = options.classes ?? (datasetClasses.success ? datasetClasses.data : undefined);
  if (!classes) return [];
  const objective = ObjectiveSchema.safeParse(record.objective ?? { metric: 'val_macro_f1' });
  const constraints = z.array(ConstraintSchema).safeParse(record.constraints ?? []);
  if (!objective.success || !constraints.success) return [];
  return classNameProblems({ objective: objective.data, constraints: constraints.data }, classes);
}

/** The validated config: a fixed `dataset.imageSize` becomes a fixed searchSpace.imageSize. */
function assembleConfig(top: z.output<typeof TopLevelSchema>, space: SearchSpace): StudyConfig {
  const { dataset, seed } = top;
  const searchSpace: SearchSpace =
    dataset.imageSize !== undefined
      ? { imageSize: { type: 'fixed', value: dataset.imageSize }, ...space }
      : space;
  return {
    name: top.name,
    dataset: {
      path: dataset.path,
      valFraction: dataset.valFraction,
      seed: dataset.seed ?? seed,
      ...(dataset.classes ? { classes: dataset.classes } : {}),
      ...(dataset.nearDuplicateThreshold !== undefined
        ? { nearDuplicateThreshold: dataset.nearDuplicateThreshold }
        : {}),
    },
    searchSpace,
    scheduler: top.scheduler,
    sampler: top.sampler,
    ...(top.warmStart ? { warmStart: top.warmStart } : {}),
    objective: top.objective,
    constraints: top.constraints,
    budget: top.budget,
    evaluation: top.evaluation,
    seed,
  };
}
