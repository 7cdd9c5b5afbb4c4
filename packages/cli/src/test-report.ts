import type { ClassificationReport, TestSetScore } from '@braintune/protocol';
import { formatClassificationReport } from '@braintune/model-core/metrics';

/** Rounded for the JSON reports (4 decimals by default). */
export const round = (v: number, digits = 4): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** What `evaluate --json` and `train --json`'s `test` print: a score rounded to 4 decimals. */
export function testScoreJson(score: TestSetScore): TestSetScore {
  return {
    accuracy: round(score.accuracy),
    macroF1: round(score.macroF1),
    perClass: Object.fromEntries(
      Object.entries(score.perClass).map(([c, m]) => [
        c,
        { precision: round(m.precision), recall: round(m.recall), f1: round(m.f1), support: m.support },
      ]),
    ),
    confusionMatrix: score.confusionMatrix,
    images: score.images,
  };
}

/** The seed's report table, the confusion matrix and the test-set specifics, on stdout. */
export function printTestReport(
  title: string,
  evaluation: { score: TestSetScore; report: ClassificationReport; presentClasses: string[] },
  skipped: readonly { path: string; reason: string }[],
): void {
  const { score, report, presentClasses } = evaluation;
  console.log(`\n${title}`);
  console.log(formatClassificationReport(report));
  console.log('confusion matrix (rows: true class, columns: predicted):');
  console.log(`classes: ${report.classes.join(', ')}`);
  for (const row of score.confusionMatrix)
    console.log(`  [${row.map((v) => String(v).padStart(4)).join(' ')} ]`);
  if (presentClasses.length < report.classes.length)
    console.log(
      `macro-F1 over the ${presentClasses.length} classes present (${presentClasses.join(', ')}): ${score.macroF1.toFixed(4)}`,
    );
  if (skipped.length > 0) {
    console.log(`skipped ${skipped.length} file(s):`);
    for (const s of skipped.slice(0, 10)) console.log(`  ${s.path}: ${s.reason}`);
  }
}
