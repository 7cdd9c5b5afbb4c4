import { InvalidInputError, type ClassificationReport, type TestSetScore } from '@braintune/protocol';
import { classificationReport } from './report.js';
import { confusionMatrix } from './confusion.js';

/**
 * Scoring a trained model on an external test set. One function (`scoreFromPredictions`, called by
 * evaluation/test-set.ts's `scoreTestBundle` and by the registry form of `evaluate`) serves
 * `braintune evaluate`, `braintune train --test` and the worker, so their figures cannot drift.
 *
 * Class policy: the test set's class folders must be a non-empty subset of the model's
 * classes, matched by exact name. A folder the model does not know is an error (its label
 * could not be scored); a model class without a folder is allowed (an external set often
 * lacks one class) and only shows as support 0. Accuracy counts every image; macro-F1
 * averages the classes the test set contains (sklearn's `f1_score(labels=present)`), so a
 * missing class does not add a zero to the mean.
 */

export interface TestSetEvaluation {
  score: TestSetScore;
  /** The full report over the model's classes (the seed's table), for printing. */
  report: ClassificationReport;
  /** Model classes that have at least one image in the test set. */
  presentClasses: string[];
}

/**
 * For each test-set class (by label), the model's label of the same name. Throws an
 * InvalidInputError naming the unknown classes and the model's classes.
 */
export function mapTestClasses(
  modelClasses: readonly string[],
  testClasses: readonly string[],
  source: string,
): number[] {
  const unknown = testClasses.filter((c) => !modelClasses.includes(c));
  if (unknown.length > 0) {
    const missing = modelClasses.filter((c) => !testClasses.includes(c));
    throw new InvalidInputError(
      `test set ${source} has class folder${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')} ` +
        `that the model does not know (model classes: ${modelClasses.join(', ')}` +
        (missing.length > 0 ? `; without a folder: ${missing.join(', ')}` : '') +
        ')',
      'name the class folders exactly like the model classes (a subset is allowed), or remove the extra folders',
    );
  }
  return testClasses.map((c) => modelClasses.indexOf(c));
}

/** Accuracy, macro-F1 over the present classes, per-class metrics and the confusion matrix. */
export function scoreFromPredictions(
  modelClasses: readonly string[],
  yTrue: readonly number[],
  yPred: readonly number[],
): TestSetEvaluation {
  const matrix = confusionMatrix(yTrue, yPred, modelClasses.length);
  const report = classificationReport(matrix, modelClasses);
  const presentClasses = modelClasses.filter((c) => (report.perClass[c]?.support ?? 0) > 0);
  const macroF1 =
    presentClasses.length === 0
      ? 0
      : presentClasses.reduce((s, c) => s + (report.perClass[c]?.f1 ?? 0), 0) / presentClasses.length;
  return {
    score: {
      accuracy: report.accuracy,
      macroF1,
      perClass: report.perClass,
      confusionMatrix: matrix,
      images: yTrue.length,
    },
    report,
    presentClasses,
  };
}
