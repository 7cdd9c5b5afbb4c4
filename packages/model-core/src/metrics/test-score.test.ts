import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '@braintune/protocol';
import { mapTestClasses, scoreFromPredictions } from './test-score.js';

const CLASSES = ['glioma', 'meningioma', 'no_tumor', 'pituitary'];

describe('external test-set scores', () => {
  it('maps test-set class folders to model labels by name; a subset is allowed', () => {
    expect(mapTestClasses(CLASSES, ['no_tumor', 'pituitary'], '/t')).toEqual([2, 3]);
    expect(mapTestClasses(CLASSES, CLASSES, '/t')).toEqual([0, 1, 2, 3]);
  });

  it('rejects a class folder the model does not know, naming it and the model classes', () => {
    const call = () => mapTestClasses(CLASSES, ['glioma', 'Glioma', 'astro'], '/data/ext');
    expect(call).toThrow(InvalidInputError);
    expect(call).toThrow(/\/data\/ext has class folders "Glioma", "astro" that the model does not know/);
    expect(call).toThrow(
      /model classes: glioma, meningioma, no_tumor, pituitary; without a folder: meningioma/,
    );
  });

  it("equals scikit-learn's figures; macro-F1 averages the classes present", () => {
    // The confusion matrix on 394 external scans, expanded into labels.
    const matrix = [
      [24, 38, 37, 1],
      [1, 98, 15, 1],
      [3, 6, 96, 0],
      [0, 17, 13, 44],
    ];
    const yTrue: number[] = [];
    const yPred: number[] = [];
    matrix.forEach((row, t) =>
      row.forEach((n, p) => Array.from({ length: n }, () => (yTrue.push(t), yPred.push(p)))),
    );
    const { score } = scoreFromPredictions(CLASSES, yTrue, yPred);
    expect(score.images).toBe(394);
    expect(score.confusionMatrix).toEqual(matrix);
    // sklearn: accuracy_score 0.6649746..., f1_score(average="macro") 0.6364 (the issue: 0.64)
    expect(score.accuracy).toBeCloseTo(262 / 394, 12);
    const f1 = [48 / (48 + 4 + 76), 196 / (196 + 61 + 17), 192 / (192 + 65 + 9), 88 / (88 + 2 + 30)];
    expect(score.macroF1).toBeCloseTo(f1.reduce((a, b) => a + b) / 4, 12);
    expect(score.perClass.glioma?.recall).toBeCloseTo(24 / 100, 12);

    // Only two classes present: the absent ones show support 0 and stay out of the mean.
    const sub = scoreFromPredictions(CLASSES, [2, 2, 3, 3], [2, 0, 3, 3]);
    expect(sub.presentClasses).toEqual(['no_tumor', 'pituitary']);
    expect(sub.score.perClass.glioma?.support).toBe(0);
    expect(sub.score.macroF1).toBeCloseTo((2 / 3 + 1) / 2, 12);
    expect(sub.report.macroAvg.f1).toBeCloseTo((0 + 0 + 2 / 3 + 1) / 4, 12);
  });
});
