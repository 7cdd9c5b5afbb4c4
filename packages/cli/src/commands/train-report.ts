import { ECE_BINS, type TrainResult } from '@braintune/model-core';
import type { DatasetBundle, PrepareDatasetResult } from '@braintune/model-core/dataset';
import { formatClassificationReport } from '@braintune/model-core/metrics';
import type {
  Calibration,
  ClassificationReport,
  Evaluation,
  Hyperparameters,
  SplitSummary,
  TestSetScore,
} from '@braintune/protocol';
import { round } from '../test-report.js';

/** One line on how the data was split, e.g. after the decode progress bar. */
export function formatSplit(split: SplitSummary): string {
  const how =
    split.nearDuplicateThreshold === null
      ? 'byte-identical copies grouped'
      : `near-duplicates within ${split.nearDuplicateThreshold} bits grouped`;
  return (
    `split: ${split.train} train / ${split.val} val${split.test > 0 ? ` / ${split.test} test` : ''} ` +
    `(${how}: ${split.groups} groups of 2+, largest ${split.largestGroup}; ` +
    `${split.nearDuplicatePairs} near-duplicate pairs, ${split.crossClassPairs} across classes)`
  );
}

export function formatCalibration(c: Calibration): string {
  const op = c.operatingPoint;
  return [
    `calibration: temperature ${c.temperature.toFixed(3)}, ECE ${c.eceBefore.toFixed(4)} → ${c.eceAfter.toFixed(4)} (${ECE_BINS} bins, ${c.images} validation scans)`,
    `operating point: refer below confidence ${op.threshold.toFixed(4)} → ${(op.referralRate * 100).toFixed(1)} % referred, ${(op.acceptedErrorRate * 100).toFixed(1)} % errors on the rest (target ${op.targetError * 100} %${op.targetMet ? '' : ', not met within ' + op.maxReferral * 100 + ' % referrals'})`,
  ].join('\n');
}

/** The seed's report table and the confusion matrix of the validation split, on stdout. */
export function printValidationReport(evaluation: Evaluation): void {
  console.log(`\n${formatClassificationReport(evaluation.report)}`);
  console.log('confusion matrix (rows: true class, columns: predicted):');
  console.log(`classes: ${evaluation.classes.join(', ')}`);
  for (const row of evaluation.confusionMatrix)
    console.log(`  [${row.map((v) => String(v).padStart(4)).join(' ')} ]`);
}

/** Everything the `--json` summary of a finished run is made of. */
export interface TrainSummaryInput {
  backendName: string;
  bundle: DatasetBundle;
  prepared: PrepareDatasetResult;
  result: TrainResult;
  calibration: Calibration | null;
  checkpointDir: string;
  preset: string;
  seed: number;
  hparams: Hyperparameters;
  wallSeconds: number;
  /** The external test set's score; absent without --test or when no epoch was trained. */
  test: TestSetScore | undefined;
}

/** The object `train --json` prints as its last stdout line. */
export function trainSummaryJson(run: TrainSummaryInput): Record<string, unknown> {
  const { bundle, prepared, result, calibration, test } = run;
  const evaluation = result.evaluation;
  return {
    backend: run.backendName,
    imageSize: bundle.imageSize,
    epochs: result.epochsDone,
    trainImagesPerSecond: round(meanTrainImagesPerSecond(result), 1),
    valAccuracy: evaluation === null ? null : round(evaluation.report.accuracy),
    valMacroF1: evaluation === null ? null : round(evaluation.report.macroAvg.f1),
    classes: bundle.classes,
    confusionMatrix: evaluation?.confusionMatrix ?? null,
    perClass: evaluation === null ? null : perClassJson(evaluation.report),
    calibration: calibration === null ? null : calibrationJson(calibration),
    checkpoint: run.checkpointDir,
    outcome: result.outcome,
    preset: run.preset,
    seed: run.seed,
    wallSeconds: round(run.wallSeconds, 1),
    dataset: prepared.hash,
    split: {
      train: prepared.split.train,
      val: prepared.split.val,
      groups: prepared.split.groups,
      nearDuplicatePairs: prepared.split.nearDuplicatePairs,
      crossClassPairs: prepared.split.crossClassPairs,
    },
    hparams: run.hparams,
    ...(test === undefined ? {} : { test }),
  };
}

function meanTrainImagesPerSecond({ history }: TrainResult): number {
  return history.length === 0 ? 0 : history.reduce((s, h) => s + h.trainImagesPerSecond, 0) / history.length;
}

function perClassJson(report: ClassificationReport): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(report.perClass).map(([c, m]) => [
      c,
      {
        precision: round(m.precision),
        recall: round(m.recall),
        f1: round(m.f1),
        support: m.support,
      },
    ]),
  );
}

function calibrationJson(c: Calibration): Record<string, unknown> {
  const op = c.operatingPoint;
  return {
    temperature: round(c.temperature),
    eceBefore: round(c.eceBefore),
    eceAfter: round(c.eceAfter),
    nllBefore: round(c.nllBefore),
    nllAfter: round(c.nllAfter),
    threshold: round(op.threshold),
    referralRate: round(op.referralRate),
    acceptedErrorRate: round(op.acceptedErrorRate),
    targetError: op.targetError,
    maxReferral: op.maxReferral,
    targetMet: op.targetMet,
  };
}
