/** One scan's result as both predict forms (checkpoint and registry) print it. */
export interface PredictionRow {
  image: string;
  classes: string[];
  probabilities: number[];
  predicted: string;
  confidence: number;
  threshold: number;
  refer: boolean;
  decision: string;
}

/**
 * The predict table: the decision ("refer (glioma?)" below the operating threshold), the
 * confidence and every calibrated probability.
 */
export function predictionTable(rows: readonly PredictionRow[]): string[] {
  const classes = rows[0]?.classes ?? [];
  const width = Math.max(5, ...rows.map((r) => r.image.length));
  const decisions = rows.map((r) => (r.refer ? `refer (${r.predicted}?)` : r.predicted));
  const dWidth = Math.max(18, ...decisions.map((d) => d.length + 2));
  const col = (c: string): number => Math.max(10, c.length + 2);
  const lines = [
    `${'image'.padEnd(width)}  ${'decision'.padEnd(dWidth)}${'confidence'.padStart(12)}${classes.map((c) => c.padStart(col(c))).join('')}`,
  ];
  rows.forEach((r, i) => {
    lines.push(
      `${r.image.padEnd(width)}  ${(decisions[i] ?? '').padEnd(dWidth)}${r.confidence.toFixed(4).padStart(12)}${r.probabilities.map((v, j) => v.toFixed(4).padStart(col(classes[j] ?? ''))).join('')}`,
    );
  });
  const threshold = rows[0]?.threshold ?? 0;
  lines.push(
    threshold > 0
      ? `referral threshold: ${threshold.toFixed(4)} (chosen on validation; "refer" = show the scan to a radiologist)`
      : 'referral threshold: none (the checkpoint has no calibration)',
  );
  return lines;
}

/** The `--json` body shared by both predict forms. */
export function predictionJson(rows: readonly PredictionRow[], tta: boolean): Record<string, unknown> {
  const classes = rows[0]?.classes ?? [];
  return {
    classes,
    threshold: rows[0]?.threshold ?? 0,
    tta,
    predictions: rows.map((r) => ({
      image: r.image,
      predicted: r.predicted,
      decision: r.decision,
      refer: r.refer,
      confidence: r.confidence,
      probabilities: Object.fromEntries(classes.map((c, j) => [c, r.probabilities[j]])),
    })),
  };
}
