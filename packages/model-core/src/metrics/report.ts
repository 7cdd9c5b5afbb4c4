import type { ClassificationReport, ClassMetrics } from '@braintune/protocol';
import { InvalidInputError } from '@braintune/protocol';
import { assertConfusionMatrix, confusionMatrix, type ConfusionMatrix } from './confusion.js';

/**
 * scikit-learn's `classification_report(..., output_dict=True, zero_division=0)` computed from a
 * confusion matrix over all `classes` (labels 0…k-1):
 * - precision = tp / (tp + fp), recall = tp / (tp + fn), f1 = 2·tp / (2·tp + fp + fn); any 0/0 → 0
 *   (sklearn ≥ 1.3 defines f1 that way, which equals the harmonic mean whenever it is defined);
 * - macro avg = unweighted mean of the per-class values (zeros included);
 * - weighted avg = mean weighted by support (0 when there is no support at all);
 * - accuracy = trace / total (0 for an empty matrix).
 */
export function classificationReport(
  matrix: ConfusionMatrix,
  classes: readonly string[],
): ClassificationReport {
  if (classes.length === 0) {
    throw new InvalidInputError(
      'classificationReport: no classes',
      'pass one class name per confusion-matrix row',
    );
  }
  assertConfusionMatrix(matrix, classes.length);
  const k = classes.length;
  const perClassList: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const row = matrix[c] as number[];
    const tp = row[c] as number;
    const support = sum(row);
    let predicted = 0;
    for (let r = 0; r < k; r++) predicted += (matrix[r] as number[])[c] as number;
    const fp = predicted - tp;
    const fn = support - tp;
    perClassList.push({
      precision: safeDivide(tp, tp + fp),
      recall: safeDivide(tp, tp + fn),
      f1: safeDivide(2 * tp, 2 * tp + fp + fn),
      support,
    });
  }
  const total = sum(perClassList.map((m) => m.support));
  let correct = 0;
  for (let c = 0; c < k; c++) correct += (matrix[c] as number[])[c] as number;

  const mean = (pick: (m: ClassMetrics) => number): number => sum(perClassList.map(pick)) / k;
  const weighted = (pick: (m: ClassMetrics) => number): number =>
    safeDivide(sum(perClassList.map((m) => pick(m) * m.support)), total);

  const perClass: Record<string, ClassMetrics> = {};
  classes.forEach((name, c) => {
    perClass[name] = perClassList[c] as ClassMetrics;
  });
  return {
    classes: [...classes],
    perClass,
    accuracy: safeDivide(correct, total),
    macroAvg: {
      precision: mean((m) => m.precision),
      recall: mean((m) => m.recall),
      f1: mean((m) => m.f1),
      support: total,
    },
    weightedAvg: {
      precision: weighted((m) => m.precision),
      recall: weighted((m) => m.recall),
      f1: weighted((m) => m.f1),
      support: total,
    },
  };
}

/** Same as `classificationReport(confusionMatrix(yTrue, yPred, k), classes)`. */
export function classificationReportFromLabels(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  classes: readonly string[],
): ClassificationReport {
  return classificationReport(confusionMatrix(yTrue, yPred, classes.length), classes);
}

/** sklearn's `f1_score(average='macro', zero_division=0)`: the unweighted mean of per-class F1. */
export function macroF1(matrix: ConfusionMatrix): number {
  const classes = matrix.map((_, i) => String(i));
  return classificationReport(matrix, classes).macroAvg.f1;
}

function safeDivide(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
