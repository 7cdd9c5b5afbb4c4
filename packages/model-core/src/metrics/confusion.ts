import { InvalidInputError } from '@braintune/protocol';

/** confusionMatrix[trueClass][predictedClass], as scikit-learn's `confusion_matrix(y_true, y_pred, labels=range(k))`. */
export type ConfusionMatrix = number[][];

export function confusionMatrix(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  numClasses: number,
): ConfusionMatrix {
  if (yTrue.length !== yPred.length) {
    throw new InvalidInputError(
      `confusionMatrix: ${yTrue.length} true labels but ${yPred.length} predictions`,
      'pass one prediction per true label',
    );
  }
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i] as number;
    const p = yPred[i] as number;
    if (!isLabel(t, numClasses) || !isLabel(p, numClasses)) {
      throw new InvalidInputError(
        `confusionMatrix: label out of range at index ${i} (true ${t}, predicted ${p}, ${numClasses} classes)`,
        `labels must be integers 0…${numClasses - 1}`,
      );
    }
    (matrix[t] as number[])[p] = ((matrix[t] as number[])[p] as number) + 1;
  }
  return matrix;
}

function isLabel(value: number, numClasses: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < numClasses;
}

/** Throws unless `matrix` is a square matrix of non-negative integers of side `numClasses` (when given). */
export function assertConfusionMatrix(matrix: ConfusionMatrix, numClasses?: number): void {
  const k = numClasses ?? matrix.length;
  const valid =
    matrix.length === k &&
    matrix.every((row) => row.length === k && row.every((v) => Number.isInteger(v) && v >= 0));
  if (!valid) {
    throw new InvalidInputError(
      `not a ${k}×${k} confusion matrix of non-negative integers`,
      'pass confusionMatrix[trueClass][predictedClass] with one row and one column per class',
    );
  }
}
