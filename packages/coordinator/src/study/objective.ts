import { z } from 'zod';
import type { EpochMetrics, Evaluation } from '@braintune/protocol';

/**
 * Objective and constraints of a study, and the one function that turns a rung's metrics into
 * the oriented `score` / `meetsConstraints` pair the schedulers rank by.
 */

export const BASE_METRICS = ['val_macro_f1', 'val_accuracy', 'val_loss'] as const;
export type BaseMetric = (typeof BASE_METRICS)[number];
/** `val_macro_f1`, `val_accuracy`, `val_loss` or `val_recall:<class>`. */
export type MetricName = BaseMetric | `val_recall:${string}`;
export type Direction = 'max' | 'min';

const RECALL_PREFIX = 'val_recall:';
const METRIC_HELP = `one of ${BASE_METRICS.join(', ')} or val_recall:<class>`;

export function isMetricName(value: string): value is MetricName {
  if ((BASE_METRICS as readonly string[]).includes(value)) return true;
  return value.startsWith(RECALL_PREFIX) && value.length > RECALL_PREFIX.length;
}

/** The class a `val_recall:<class>` metric names, or null for the other metrics. */
export function recallClassOf(metric: MetricName): string | null {
  return metric.startsWith(RECALL_PREFIX) ? metric.slice(RECALL_PREFIX.length) : null;
}

/** Loss is minimised; every other metric is maximised. */
export function naturalDirection(metric: MetricName): Direction {
  return metric === 'val_loss' ? 'min' : 'max';
}

export const MetricNameSchema = z
  .string({ error: `must be ${METRIC_HELP}` })
  .refine(isMetricName, { error: `must be ${METRIC_HELP}` })
  .transform((value) => value as MetricName);

export const ObjectiveSchema = z
  .strictObject({
    metric: MetricNameSchema.default('val_macro_f1'),
    direction: z.enum(['max', 'min'], { error: 'must be one of max, min' }).optional(),
  })
  .superRefine((objective, ctx) => {
    if (objective.direction !== undefined && objective.direction !== naturalDirection(objective.metric)) {
      ctx.addIssue({
        code: 'custom',
        path: ['direction'],
        message: `${objective.metric} must be ${naturalDirection(objective.metric) === 'max' ? 'maximised (max)' : 'minimised (min)'}`,
      });
    }
  })
  .transform((objective) => ({ metric: objective.metric, direction: naturalDirection(objective.metric) }));
export type Objective = z.output<typeof ObjectiveSchema>;

export const ConstraintSchema = z
  .strictObject({
    metric: MetricNameSchema,
    min: z.number({ error: 'must be a number' }).optional(),
    max: z.number({ error: 'must be a number' }).optional(),
  })
  .superRefine((constraint, ctx) => {
    if (constraint.min === undefined && constraint.max === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a constraint needs min, max or both' });
    } else if (
      constraint.min !== undefined &&
      constraint.max !== undefined &&
      constraint.min > constraint.max
    ) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: `must be ≥ min (${constraint.min})` });
    }
  });
export type Constraint = z.output<typeof ConstraintSchema>;

/** Metric values by name, as the objective and constraints read them. */
export type MetricValues = Partial<Record<MetricName, number>>;

/** Anything a rung reports that carries validation metrics. */
export type MetricSource = Evaluation | EpochMetrics | MetricValues;

function isEvaluation(source: MetricSource): source is Evaluation {
  return 'report' in source && 'confusionMatrix' in source;
}

function isEpochMetrics(source: MetricSource): source is EpochMetrics {
  return 'valMacroF1' in source && 'valRecall' in source;
}

/** Reads one metric from an evaluation, an epoch's metrics or a plain metric map (NaN when absent). */
export function metricValue(source: MetricSource, metric: MetricName): number {
  const recallClass = recallClassOf(metric);
  if (isEvaluation(source)) {
    if (recallClass !== null) return source.report.perClass[recallClass]?.recall ?? Number.NaN;
    if (metric === 'val_macro_f1') return source.report.macroAvg.f1;
    if (metric === 'val_accuracy') return source.report.accuracy;
    return source.loss;
  }
  if (isEpochMetrics(source)) {
    if (recallClass !== null) return source.valRecall[recallClass] ?? Number.NaN;
    if (metric === 'val_macro_f1') return source.valMacroF1;
    if (metric === 'val_accuracy') return source.valAccuracy;
    return source.valLoss;
  }
  const values = source as MetricValues;
  return values[metric] ?? Number.NaN;
}

export interface ScoreResult {
  /** The objective's raw value (NaN when missing or diverged). */
  value: number;
  /** Oriented so that larger is better; null when the value is not finite (ranks as failed). */
  score: number | null;
  meetsConstraints: boolean;
  /** One line per constraint missed, e.g. `val_recall:glioma_tumor = 0.82 < min 0.9`. */
  violations: string[];
}

/** Objective value, oriented score and constraint check of one rung's metrics. */
export function scoreOf(
  source: MetricSource,
  objective: Objective,
  constraints: readonly Constraint[] = [],
): ScoreResult {
  const value = metricValue(source, objective.metric);
  const score = Number.isFinite(value) ? orientedScore(value, objective) : null;
  const violations = constraintViolations(source, constraints);
  return { value, score, meetsConstraints: violations.length === 0, violations };
}

/** One line per constraint the metrics miss, e.g. `val_recall:glioma_tumor = 0.82 < min 0.9`. */
export function constraintViolations(source: MetricSource, constraints: readonly Constraint[]): string[] {
  const violations: string[] = [];
  for (const constraint of constraints) {
    const actual = metricValue(source, constraint.metric);
    if (!Number.isFinite(actual)) violations.push(`${constraint.metric} is missing`);
    else if (constraint.min !== undefined && actual < constraint.min)
      violations.push(`${constraint.metric} = ${actual} < min ${constraint.min}`);
    else if (constraint.max !== undefined && actual > constraint.max)
      violations.push(`${constraint.metric} = ${actual} > max ${constraint.max}`);
  }
  return violations;
}

/** The stored score of a metric value: oriented so that larger is better. */
export function orientedScore(value: number, objective: Pick<Objective, 'direction'>): number {
  return objective.direction === 'max' ? value : -value;
}

/** The metric's own value of a stored (oriented) score, as pages and the registry show it. */
export function naturalValue(score: number, objective: Pick<Objective, 'direction'>): number;
export function naturalValue(score: number | null, objective: Pick<Objective, 'direction'>): number | null;
export function naturalValue(score: number | null, objective: Pick<Objective, 'direction'>): number | null {
  // Orienting is a sign flip for minimised metrics, so it is its own inverse.
  return score === null ? null : orientedScore(score, objective);
}

const DEFAULT_OBJECTIVE: Objective = { metric: 'val_macro_f1', direction: 'max' };
const StoredObjectiveSchema = z.object({ objective: z.unknown().optional() });
const StoredConstraintsSchema = z.object({ constraints: z.array(z.unknown()).optional() });

/**
 * The objective of a stored study config. Stored configs were normalised on submit, so this
 * only fails for rows written by another version: those fall back to the default objective.
 */
export function storedObjective(config: unknown): Objective {
  const stored = StoredObjectiveSchema.safeParse(config);
  const parsed = ObjectiveSchema.safeParse(stored.success ? (stored.data.objective ?? {}) : {});
  return parsed.success ? parsed.data : DEFAULT_OBJECTIVE;
}

/** The constraints of a stored study config (entries this version cannot read are left out). */
export function storedConstraints(config: unknown): Constraint[] {
  const stored = StoredConstraintsSchema.safeParse(config);
  if (!stored.success) return [];
  return (stored.data.constraints ?? []).flatMap((c) => {
    const parsed = ConstraintSchema.safeParse(c);
    return parsed.success ? [parsed.data] : [];
  });
}

/** What ranking needs of a finished rung (a `RungRecord` fits). */
export interface Rankable {
  score: number | null;
  meetsConstraints: boolean;
}

/**
 * Orders rungs best first: every rung meeting the constraints before any that misses one,
 * then by score; rungs without a score (failed, diverged) last. Returns < 0 when a is better.
 */
export function compareRankable(a: Rankable, b: Rankable): number {
  const aScored = a.score !== null;
  const bScored = b.score !== null;
  if (aScored !== bScored) return aScored ? -1 : 1;
  if (a.meetsConstraints !== b.meetsConstraints) return a.meetsConstraints ? -1 : 1;
  if (a.score !== null && b.score !== null && a.score !== b.score) return b.score - a.score;
  return 0;
}

/** What the leaderboard ranks a trial by (a `trials` row fits). */
export interface RankedTrial {
  score: number | null;
  meetsConstraints: boolean | null;
  epochsDone: number;
  index: number;
}

/**
 * The leaderboard's order, shared by the API (`sort=objective`), the dashboard and the
 * registry's default promote: scored trials first, those meeting the constraints before the
 * rest, then by score, the longer-trained, the older. read-model/ranking.ts is its SQL twin
 * (a test checks that both agree). Returns < 0 when a ranks higher.
 */
export function compareTrials(a: RankedTrial, b: RankedTrial): number {
  const byRung = compareRankable(
    { score: a.score, meetsConstraints: a.meetsConstraints === true },
    { score: b.score, meetsConstraints: b.meetsConstraints === true },
  );
  return byRung || b.epochsDone - a.epochsDone || a.index - b.index;
}
