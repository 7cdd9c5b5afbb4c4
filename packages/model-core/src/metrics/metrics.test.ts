import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classificationReport,
  classificationReportFromLabels,
  confusionMatrix,
  formatClassificationReport,
  formatFixed,
  macroF1,
} from './index.js';

const SEED_CLASSES = ['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor'];
const SEED_MATRIX = [
  [170, 10, 6, 1],
  [9, 142, 11, 7],
  [2, 0, 91, 1],
  [0, 0, 0, 184],
];
/** The seed study's report, copied from shared/docs/seed-brain-tumor-classifier.txt (rounded to 2 decimals). */
const SEED_REPORT_TABLE = `\
glioma_tumor	0.94	0.91	0.92	187
meningioma_tumor	0.93	0.84	0.88	169
no_tumor	0.84	0.97	0.90	94
pituitary_tumor	0.95	1.00	0.98	184
accuracy			0.93	634
macro avg	0.92	0.93	0.92	634
weighted avg	0.93	0.93	0.93	634`;

const SEED_DOC = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/docs/seed-brain-tumor-classifier.txt',
);

const r2 = (v: number): string => formatFixed(v, 2);

describe('classificationReport reproduces the seed study', () => {
  const report = classificationReport(SEED_MATRIX, SEED_CLASSES);

  it('matches every number of the seed report', () => {
    const rows = SEED_REPORT_TABLE.split('\n').map((line) => line.split('\t'));
    for (const [name, ...cells] of rows) {
      if (name === 'accuracy') {
        expect([r2(report.accuracy), String(report.macroAvg.support)]).toEqual([cells[2], cells[3]]);
        continue;
      }
      const m =
        name === 'macro avg'
          ? report.macroAvg
          : name === 'weighted avg'
            ? report.weightedAvg
            : report.perClass[name!];
      expect(m, name).toBeDefined();
      expect([r2(m!.precision), r2(m!.recall), r2(m!.f1), String(m!.support)], name).toEqual(cells);
    }
  });

  it('agrees with the seed document itself when it is present', () => {
    if (!existsSync(SEED_DOC)) {
      console.warn(`skipped: seed document not found at ${SEED_DOC}`);
      return;
    }
    const doc = readFileSync(SEED_DOC, 'utf8');
    for (const line of SEED_REPORT_TABLE.split('\n')) expect(doc).toContain(line);
  });

  it('formats the seed table in scikit-learn text layout', () => {
    const expected = [
      '                  precision    recall  f1-score   support',
      '',
      '    glioma_tumor       0.94      0.91      0.92       187',
      'meningioma_tumor       0.93      0.84      0.88       169',
      '        no_tumor       0.84      0.97      0.90        94',
      ' pituitary_tumor       0.95      1.00      0.98       184',
      '',
      '        accuracy                           0.93       634',
      '       macro avg       0.92      0.93      0.92       634',
      '    weighted avg       0.93      0.93      0.93       634',
      '',
    ].join('\n');
    expect(formatClassificationReport(report)).toBe(expected);
  });

  it('computes the same matrix from label vectors', () => {
    const yTrue: number[] = [];
    const yPred: number[] = [];
    SEED_MATRIX.forEach((row, t) =>
      row.forEach((n, p) => {
        for (let i = 0; i < n; i++) {
          yTrue.push(t);
          yPred.push(p);
        }
      }),
    );
    expect(confusionMatrix(yTrue, yPred, 4)).toEqual(SEED_MATRIX);
    expect(classificationReportFromLabels(yTrue, yPred, SEED_CLASSES)).toEqual(report);
    expect(macroF1(SEED_MATRIX)).toBeCloseTo(report.macroAvg.f1, 15);
  });
});

describe('zero division (sklearn zero_division=0), values derived by hand', () => {
  // y_true = [0, 0, 1], y_pred = [0, 0, 0], labels = [a, b, c]:
  // a: tp 2, fp 1, fn 0 → precision 2/3, recall 1, f1 = 2·2/(2·2+1+0) = 0.8, support 2
  // b: tp 0, never predicted → precision 0/0 → 0, recall 0/1 = 0, f1 = 0/(0+0+1) = 0, support 1
  // c: absent from both → precision, recall, f1 all 0/0 → 0, support 0
  const report = classificationReportFromLabels([0, 0, 1], [0, 0, 0], ['a', 'b', 'c']);

  it('per class', () => {
    expect(report.perClass.a!.precision).toBeCloseTo(2 / 3, 12);
    expect(report.perClass.a!.recall).toBe(1);
    expect(report.perClass.a!.f1).toBeCloseTo(0.8, 12);
    expect(report.perClass.b).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(report.perClass.c).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
  });

  it('averages include the zeros; weighted average weights by support', () => {
    expect(report.accuracy).toBeCloseTo(2 / 3, 12);
    expect(report.macroAvg.precision).toBeCloseTo(2 / 9, 12);
    expect(report.macroAvg.recall).toBeCloseTo(1 / 3, 12);
    expect(report.macroAvg.f1).toBeCloseTo(0.8 / 3, 12);
    expect(report.macroAvg.support).toBe(3);
    expect(report.weightedAvg.precision).toBeCloseTo(4 / 9, 12);
    expect(report.weightedAvg.recall).toBeCloseTo(2 / 3, 12);
    expect(report.weightedAvg.f1).toBeCloseTo(1.6 / 3, 12);
    expect(report.weightedAvg.support).toBe(3);
  });

  it('an empty matrix gives zeros, not NaN', () => {
    const empty = classificationReport(
      [
        [0, 0],
        [0, 0],
      ],
      ['x', 'y'],
    );
    expect(empty.accuracy).toBe(0);
    expect(empty.macroAvg).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(empty.weightedAvg).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
  });

  it('f1 is 2tp/(2tp+fp+fn), i.e. the harmonic mean when precision and recall are defined', () => {
    // class 0: tp 1, fp 3, fn 1 → p 0.25, r 0.5, f1 = 2/(2+3+1) = 1/3 = 2·0.25·0.5/0.75
    const m = classificationReport(
      [
        [1, 1],
        [3, 0],
      ],
      ['p', 'q'],
    );
    expect(m.perClass.p!.f1).toBeCloseTo(1 / 3, 12);
    expect(m.perClass.q).toEqual({ precision: 0, recall: 0, f1: 0, support: 3 });
  });

  it('rejects malformed input', () => {
    expect(() => confusionMatrix([0, 1], [0], 2)).toThrow(/2 true labels but 1 predictions/);
    expect(() => confusionMatrix([0, 2], [0, 1], 2)).toThrow(/out of range/);
    expect(() => classificationReport([[1, 2]], ['a'])).toThrow(/1×1/);
  });
});

describe('formatFixed rounds like Python', () => {
  it('ties of exactly representable values go to even; everything else by the exact value', () => {
    expect(formatFixed(0.125, 2)).toBe('0.12');
    expect(formatFixed(0.375, 2)).toBe('0.38');
    expect(formatFixed(0.625, 2)).toBe('0.62');
    expect(formatFixed(0.135, 2)).toBe('0.14'); // 0.13500000000000000888…
    expect(formatFixed(0.145, 2)).toBe('0.14'); // 0.14499999999999999001…
    expect(formatFixed(0.999, 2)).toBe('1.00');
    expect(formatFixed(1, 2)).toBe('1.00');
    expect(formatFixed(0, 2)).toBe('0.00');
    expect(formatFixed(2.5, 0)).toBe('2');
    expect(formatFixed(-0.001, 2)).toBe('-0.00');
    expect(formatFixed(-1.256, 2)).toBe('-1.26');
  });
});
