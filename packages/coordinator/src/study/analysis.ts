import { z } from 'zod';
import type { Hyperparameters } from '@braintune/protocol';
import { naturalValue } from './objective.js';
import type { ParamValue, SearchSpace } from './search-space.js';
import { isActive, type Assignment } from './space-sampling.js';
import { assignmentOf, encodeSpace, toCoordinate, type Dim } from './space-encoding.js';

/**
 * What the study page and `GET /api/studies/:id/analysis` show: hyperparameter importance,
 * parallel coordinates, slice plots and the optimisation history. Pure and O(trials · params).
 *
 * Importance is PED-ANOVA (Watanabe et al., IJCAI 2023): for each parameter, the Pearson
 * divergence between its distribution among the top-γ trials and among all trials, normalised
 * to sum to 1. Chosen over fANOVA because it is a closed form over histograms (no forest to fit,
 * linear in trials), so it stays live at 10,000 trials and is stable with a few dozen; fANOVA's
 * random forest would cost O(trees · n log n) per update and be noisy at the sizes Hyperband
 * studies have. Like the sampler it compares like with like: it uses the results of the largest
 * budget (epochs) with at least 10 of them (all final results while none has).
 *
 * Plot data is bounded: at most `maxPoints` trials (the best quarter of the budget always kept,
 * the rest an even spread by creation order) and at most `maxPoints` history steps.
 */

export interface AnalysisRung {
  trialIndex: number;
  fromEpoch: number;
  toEpoch: number;
  /** Oriented objective (larger is better); null for a failed rung. */
  score: number | null;
}

export interface AnalysisInput {
  space: SearchSpace;
  direction: 'max' | 'min';
  trials: { index: number; hyperparameters: Hyperparameters }[];
  /** Finished rungs in the order their results were recorded. */
  results: AnalysisRung[];
  maxPoints?: number;
  quantile?: number;
}

const ParameterSchema = z.object({
  name: z.string(),
  kind: z.enum(['numeric', 'categorical']),
  log: z.boolean(),
  min: z.number().nullable(),
  max: z.number().nullable(),
  /** Categorical values, in the space's order. */
  values: z.array(z.union([z.string(), z.number(), z.boolean()])).nullable(),
});

export const StudyAnalysisSchema = z.object({
  method: z.literal('ped-anova'),
  direction: z.enum(['max', 'min']),
  quantile: z.number(),
  /** Epochs of the results importance was computed on (null: every trial's last result). */
  importanceBudget: z.number().nullable(),
  parameters: z.array(ParameterSchema),
  importance: z.array(z.object({ name: z.string(), importance: z.number() })),
  trials: z.number().int(),
  sampled: z.boolean(),
  /** One row per shown trial: objective (natural direction) and each parameter's value (null: inactive). */
  points: z.array(
    z.object({
      index: z.number().int(),
      epochs: z.number().int(),
      objective: z.number(),
      values: z.array(z.union([z.string(), z.number(), z.boolean()]).nullable()),
    }),
  ),
  /** Best objective so far against epochs trained, in recording order. */
  history: z.array(
    z.object({ epochs: z.number(), value: z.number().nullable(), best: z.number().nullable() }),
  ),
});
export type StudyAnalysis = z.infer<typeof StudyAnalysisSchema>;

export function analyseStudy(input: AnalysisInput): StudyAnalysis {
  const maxPoints = input.maxPoints ?? 2000;
  const quantile = input.quantile ?? 0.1;
  const natural = (score: number): number => naturalValue(score, input);
  const dims = encodeSpace(input.space).filter(
    (d): d is Exclude<Dim, { kind: 'fixed' }> => d.kind !== 'fixed',
  );

  const { latest, byBudget } = scoredResults(input.results);
  const assignments = new Map<number, Assignment>(
    input.trials.map((t) => [t.index, assignmentOf(input.space, t.hyperparameters)]),
  );

  const budgets = [...byBudget.keys()].sort((a, b) => b - a);
  const importanceBudget = budgets.find((b) => byBudget.get(b)!.size >= 10) ?? null;
  const scored: [number, number][] =
    importanceBudget === null
      ? [...latest].map(([i, r]) => [i, r.score])
      : [...byBudget.get(importanceBudget)!];
  const importance = pedAnova(dims, scored, assignments, quantile);

  const rows = [...latest].map(([index, r]) => ({ index, ...r })).sort((a, b) => a.index - b.index);
  const shown = boundedSample(rows, maxPoints);
  const points = shown.map((r) => {
    const a = assignments.get(r.index) ?? new Map<string, ParamValue>();
    return {
      index: r.index,
      epochs: r.epochs,
      objective: natural(r.score),
      values: dims.map((d) => (isActive(d.spec, a) ? (a.get(d.name) ?? null) : null)),
    };
  });

  const history = bestSoFar(input.results, natural);
  return {
    method: 'ped-anova',
    direction: input.direction,
    quantile,
    importanceBudget,
    parameters: dims.map((d) => ({
      name: d.name,
      kind: d.kind,
      log: d.kind === 'numeric' && d.log,
      min: d.kind === 'numeric' && (d.spec.type === 'int' || d.spec.type === 'float') ? d.spec.min : null,
      max: d.kind === 'numeric' && (d.spec.type === 'int' || d.spec.type === 'float') ? d.spec.max : null,
      values: d.kind === 'categorical' ? d.values : null,
    })),
    importance,
    trials: rows.length,
    sampled: shown.length < rows.length,
    points,
    history: thin(history, maxPoints),
  };
}

/** Each trial's latest scored result (largest toEpoch), and every scored result per budget (toEpoch). */
function scoredResults(results: readonly AnalysisRung[]) {
  const latest = new Map<number, { score: number; epochs: number }>();
  const byBudget = new Map<number, Map<number, number>>();
  for (const r of results) {
    if (r.score === null) continue;
    const prev = latest.get(r.trialIndex);
    if (!prev || r.toEpoch >= prev.epochs) latest.set(r.trialIndex, { score: r.score, epochs: r.toEpoch });
    let budget = byBudget.get(r.toEpoch);
    if (!budget) byBudget.set(r.toEpoch, (budget = new Map()));
    budget.set(r.trialIndex, r.score);
  }
  return { latest, byBudget };
}

/** Each result and the best so far (natural direction) against the epochs trained until then. */
function bestSoFar(
  results: readonly AnalysisRung[],
  natural: (score: number) => number,
): StudyAnalysis['history'] {
  let epochs = 0;
  let best: number | null = null;
  return results.map((r) => {
    epochs += r.toEpoch - r.fromEpoch;
    if (r.score !== null && (best === null || r.score > best)) best = r.score;
    return {
      epochs,
      value: r.score === null ? null : natural(r.score),
      best: best === null ? null : natural(best),
    };
  });
}

const BINS = 10;

/** PED-ANOVA's local importance per parameter, normalised to sum to 1 (all 0 with < 4 results). */
function pedAnova(
  dims: Exclude<Dim, { kind: 'fixed' }>[],
  scored: [number, number][],
  assignments: Map<number, Assignment>,
  quantile: number,
): { name: string; importance: number }[] {
  if (scored.length < 4 || dims.length === 0) return dims.map((d) => ({ name: d.name, importance: 0 }));
  const ranked = [...scored].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const topCount = Math.max(2, Math.ceil(quantile * ranked.length));
  const top = new Set(ranked.slice(0, topCount).map(([i]) => i));
  const raw = dims.map((dim) => {
    const bins = dim.kind === 'categorical' ? dim.values.length + 1 : BINS + 1; // last bin: inactive
    const all = new Array<number>(bins).fill(0.5);
    const good = new Array<number>(bins).fill(0.5);
    for (const [index] of ranked) {
      const value = assignments.get(index)?.get(dim.name);
      const c = value === undefined ? null : toCoordinate(dim, value);
      const bin =
        c === null ? bins - 1 : dim.kind === 'categorical' ? c : Math.min(BINS - 1, Math.floor(c * BINS));
      all[bin]!++;
      if (top.has(index)) good[bin]!++;
    }
    const sumAll = all.reduce((s, v) => s + v, 0);
    const sumGood = good.reduce((s, v) => s + v, 0);
    // Pearson divergence ∫ (p_top / p_all − 1)² p_all.
    let divergence = 0;
    for (let b = 0; b < bins; b++) {
      const pAll = all[b]! / sumAll;
      const pGood = good[b]! / sumGood;
      divergence += (pGood / pAll - 1) ** 2 * pAll;
    }
    return divergence;
  });
  const total = raw.reduce((s, v) => s + v, 0);
  return dims
    .map((d, i) => ({
      name: d.name,
      importance: total > 0 ? Math.round((raw[i]! / total) * 10_000) / 10_000 : 0,
    }))
    .sort((a, b) => b.importance - a.importance || (a.name < b.name ? -1 : 1));
}

/** The best quarter of `max` by score, then an even spread of the rest; in creation order. */
function boundedSample<T extends { index: number; score: number }>(rows: T[], max: number): T[] {
  if (rows.length <= max) return rows;
  const best = [...rows].sort((a, b) => b.score - a.score || a.index - b.index).slice(0, Math.floor(max / 4));
  const keep = new Set(best.map((r) => r.index));
  const rest = rows.filter((r) => !keep.has(r.index));
  const room = max - keep.size;
  for (let k = 0; k < room; k++) keep.add(rest[Math.floor((k * rest.length) / room)]!.index);
  return rows.filter((r) => keep.has(r.index));
}

/** At most `max` steps: every step where the best changed, plus an even spread of the others. */
function thin<T extends { best: number | null }>(steps: T[], max: number): T[] {
  if (steps.length <= max) return steps;
  const stride = Math.ceil(steps.length / max);
  return steps.filter((s, i) => i % stride === 0 || i === steps.length - 1 || s.best !== steps[i - 1]?.best);
}
