import { describe, expect, it } from 'vitest';
import type { EpochMetrics, Evaluation } from '@braintune/protocol';
import {
  compareRankable,
  compareTrials,
  constraintViolations,
  naturalValue,
  scoreOf,
  storedConstraints,
  storedObjective,
  type Objective,
} from './objective.js';

const classes = ['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor'];
const metrics = (precision: number, recall: number) => ({
  precision,
  recall,
  f1: (2 * precision * recall) / (precision + recall),
  support: 10,
});

const evaluation: Evaluation = {
  classes,
  confusionMatrix: [
    [8, 2, 0, 0],
    [1, 9, 0, 0],
    [0, 0, 10, 0],
    [0, 1, 0, 9],
  ],
  report: {
    classes,
    perClass: {
      glioma_tumor: metrics(8 / 9, 0.8),
      meningioma_tumor: metrics(0.75, 0.9),
      no_tumor: metrics(1, 1),
      pituitary_tumor: metrics(1, 0.9),
    },
    accuracy: 0.9,
    macroAvg: { precision: 0.91, recall: 0.9, f1: 0.89, support: 40 },
    weightedAvg: { precision: 0.91, recall: 0.9, f1: 0.89, support: 40 },
  },
  loss: 0.31,
};

const epoch: EpochMetrics = {
  epoch: 3,
  loss: 0.4,
  accuracy: 0.85,
  valLoss: 0.5,
  valAccuracy: 0.8,
  valMacroF1: 0.78,
  valRecall: { glioma_tumor: 0.95, meningioma_tumor: 0.6, no_tumor: 0.9, pituitary_tumor: 0.9 },
  trainImagesPerSecond: 100,
  durationMs: 1000,
};

const f1: Objective = { metric: 'val_macro_f1', direction: 'max' };

describe('scoreOf', () => {
  it('reads every metric from an evaluation and from epoch metrics', () => {
    expect(scoreOf(evaluation, f1).score).toBe(0.89);
    expect(scoreOf(evaluation, { metric: 'val_accuracy', direction: 'max' }).score).toBe(0.9);
    expect(scoreOf(evaluation, { metric: 'val_recall:glioma_tumor', direction: 'max' }).score).toBe(0.8);
    expect(scoreOf(epoch, f1).score).toBe(0.78);
    expect(scoreOf(epoch, { metric: 'val_recall:meningioma_tumor', direction: 'max' }).score).toBe(0.6);
    expect(scoreOf({ val_macro_f1: 0.5 }, f1).score).toBe(0.5);
  });

  it('orients val_loss so that larger is better', () => {
    const a = scoreOf(evaluation, { metric: 'val_loss', direction: 'min' });
    const b = scoreOf(epoch, { metric: 'val_loss', direction: 'min' });
    expect(a).toMatchObject({ value: 0.31, score: -0.31 });
    expect(compareRankable({ ...a, meetsConstraints: true }, { ...b, meetsConstraints: true })).toBeLessThan(
      0,
    );
  });

  it('checks constraints and explains the ones missed', () => {
    const constraint = [{ metric: 'val_recall:glioma_tumor' as const, min: 0.9 }];
    expect(scoreOf(evaluation, f1, constraint)).toEqual({
      value: 0.89,
      score: 0.89,
      meetsConstraints: false,
      violations: ['val_recall:glioma_tumor = 0.8 < min 0.9'],
    });
    expect(scoreOf(epoch, f1, constraint).meetsConstraints).toBe(true);
    expect(scoreOf(epoch, f1, [{ metric: 'val_loss', max: 0.4 }]).violations).toEqual([
      'val_loss = 0.5 > max 0.4',
    ]);
    expect(scoreOf(epoch, f1, [{ metric: 'val_recall:unknown', min: 0.1 }]).violations).toEqual([
      'val_recall:unknown is missing',
    ]);
  });

  it('gives no score to a diverged rung', () => {
    expect(scoreOf({ ...epoch, valMacroF1: Number.NaN }, f1).score).toBeNull();
  });
});

describe('compareRankable', () => {
  it('ranks every rung meeting the constraints above every rung missing one, failed rungs last', () => {
    const rungs = [
      { name: 'high-score-misses', score: 0.99, meetsConstraints: false },
      { name: 'failed', score: null, meetsConstraints: false },
      { name: 'low-meets', score: 0.5, meetsConstraints: true },
      { name: 'mid-meets', score: 0.7, meetsConstraints: true },
      { name: 'low-misses', score: 0.2, meetsConstraints: false },
    ];
    expect([...rungs].sort(compareRankable).map((r) => r.name)).toEqual([
      'mid-meets',
      'low-meets',
      'high-score-misses',
      'low-misses',
      'failed',
    ]);
  });
});

describe('the objective as the read model uses it', () => {
  it('reads a stored objective, falling back to macro-F1 for configs it cannot read', () => {
    expect(storedObjective({ objective: { metric: 'val_loss', direction: 'min' } })).toEqual({
      metric: 'val_loss',
      direction: 'min',
    });
    expect(storedObjective({ objective: { metric: 'val_recall:glioma_tumor' } })).toEqual({
      metric: 'val_recall:glioma_tumor',
      direction: 'max',
    });
    expect(storedObjective({})).toEqual({ metric: 'val_macro_f1', direction: 'max' });
    expect(storedObjective({ objective: { metric: 'nonsense' } })).toEqual({
      metric: 'val_macro_f1',
      direction: 'max',
    });
  });

  it('keeps the readable constraints of a stored config', () => {
    expect(
      storedConstraints({ constraints: [{ metric: 'val_recall:glioma_tumor', min: 0.9 }, { metric: 'x' }] }),
    ).toEqual([{ metric: 'val_recall:glioma_tumor', min: 0.9 }]);
    expect(storedConstraints({ constraints: 'none' })).toEqual([]);
  });

  it("turns a stored score back into the metric's own value", () => {
    const loss = { direction: 'min' } as const;
    expect(naturalValue(scoreOf(evaluation, { metric: 'val_loss', direction: 'min' }).score, loss)).toBe(
      0.31,
    );
    expect(naturalValue(0.8, { direction: 'max' })).toBe(0.8);
    expect(naturalValue(null, loss)).toBeNull();
  });

  it('looks constraint metrics up in a plain metric map', () => {
    expect(
      constraintViolations({ val_accuracy: 0.7, 'val_recall:no_tumor': 0.95 }, [
        { metric: 'val_accuracy', min: 0.8 },
        { metric: 'val_recall:no_tumor', max: 0.9 },
        { metric: 'val_loss', max: 1 },
      ]),
    ).toEqual([
      'val_accuracy = 0.7 < min 0.8',
      'val_recall:no_tumor = 0.95 > max 0.9',
      'val_loss is missing',
    ]);
  });

  it('ranks trials: scored, constraints met, score, longer training, older', () => {
    const t = (
      score: number | null,
      meetsConstraints: boolean | null,
      epochsDone: number,
      index: number,
    ) => ({
      score,
      meetsConstraints,
      epochsDone,
      index,
    });
    const ranked = [
      t(null, true, 9, 0),
      t(0.9, false, 9, 1),
      t(0.5, true, 3, 2),
      t(0.5, true, 9, 3),
      t(0.7, true, 1, 4),
      t(0.5, true, 9, 5),
    ].sort(compareTrials);
    expect(ranked.map((r) => r.index)).toEqual([4, 3, 5, 2, 1, 0]);
  });
});
