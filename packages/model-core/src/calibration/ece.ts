/** Equal-width confidence bins of the expected calibration error (Guo et al., 2017). */
export const ECE_BINS = 15;

/** Top-label confidence and correctness of each row of a row-major [n, k] probability matrix. */
export function topLabel(
  probs: Float32Array,
  labels: readonly number[],
  k: number,
): { confidence: number[]; correct: boolean[] } {
  const confidence: number[] = [];
  const correct: boolean[] = [];
  for (let r = 0; r < labels.length; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probs[r * k + c] as number) > (probs[r * k + best] as number)) best = c;
    confidence.push(probs[r * k + best] as number);
    correct.push(best === labels[r]);
  }
  return { confidence, correct };
}

/**
 * Expected calibration error, top label: Σ_b (n_b / n) · |accuracy_b − mean confidence_b| over
 * equal-width bins of (0, 1]; a confidence on an edge goes to the lower bin ((i/B, (i+1)/B]).
 */
export function expectedCalibrationError(
  probs: Float32Array,
  labels: readonly number[],
  k: number,
  bins = ECE_BINS,
): number {
  const n = labels.length;
  if (n === 0) return 0;
  const { confidence, correct } = topLabel(probs, labels, k);
  const count = new Array<number>(bins).fill(0);
  const confSum = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  confidence.forEach((p, i) => {
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1));
    count[b] = (count[b] as number) + 1;
    confSum[b] = (confSum[b] as number) + p;
    if (correct[i]) hits[b] = (hits[b] as number) + 1;
  });
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    const m = count[b] as number;
    if (m > 0) ece += (m / n) * Math.abs((hits[b] as number) / m - (confSum[b] as number) / m);
  }
  return ece;
}
