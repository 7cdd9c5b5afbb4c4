import type { OperatingPoint } from '@braintune/protocol';

/** Default rule: at most 5 % errors among the scans the model decides, referring at most 25 %. */
export const DEFAULT_TARGET_ERROR = 0.05;
export const DEFAULT_MAX_REFERRAL = 0.25;

export interface OperatingPointOptions {
  targetError?: number;
  maxReferral?: number;
}

/**
 * Chooses the referral threshold on validation. Scans whose confidence is below the threshold
 * are referred; the rule takes the lowest threshold whose accepted set has an error rate ≤
 * `targetError` while referring at most `maxReferral` of the scans. When no threshold within
 * the cap meets the target, it takes the one with the fewest accepted errors within the cap
 * (the lowest such) and says so (`targetMet: false`). Threshold 0 means "never refer".
 */
export function chooseOperatingPoint(
  confidence: readonly number[],
  correct: readonly boolean[],
  options: OperatingPointOptions = {},
): OperatingPoint {
  const targetError = options.targetError ?? DEFAULT_TARGET_ERROR;
  const maxReferral = options.maxReferral ?? DEFAULT_MAX_REFERRAL;
  const n = confidence.length;
  if (n === 0)
    return { threshold: 0, targetError, maxReferral, referralRate: 0, acceptedErrorRate: 0, targetMet: true };
  const order = confidence
    .map((_, i) => i)
    .sort((a, b) => (confidence[a] as number) - (confidence[b] as number));
  let errorsLeft = correct.reduce((s, c) => s + (c ? 0 : 1), 0);
  let best: { cut: number; error: number } | null = null;
  // cut = number of lowest-confidence scans referred; only cuts between distinct confidences are thresholds.
  for (let cut = 0; cut < n && cut / n <= maxReferral; cut++) {
    const conf = confidence[order[cut] as number] as number;
    const distinct = cut === 0 || (confidence[order[cut - 1] as number] as number) < conf;
    if (distinct) {
      const error = errorsLeft / (n - cut);
      if (error <= targetError) {
        best = { cut, error };
        break;
      }
      if (best === null || error < best.error) best = { cut, error };
    }
    if (!correct[order[cut] as number]) errorsLeft -= 1;
  }
  const { cut, error } = best ?? { cut: 0, error: errorsLeft / n };
  return {
    threshold: cut === 0 ? 0 : (confidence[order[cut] as number] as number),
    targetError,
    maxReferral,
    referralRate: cut / n,
    acceptedErrorRate: error,
    targetMet: error <= targetError,
  };
}
