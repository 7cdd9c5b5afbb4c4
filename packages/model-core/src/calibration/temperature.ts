/**
 * Temperature scaling (Guo et al., 2017) on softmax outputs. The models end in a softmax, so
 * log-probabilities stand in for logits: they differ by a per-row constant, which the softmax
 * cancels, so softmax(log p / T) is exactly softmax(z / T).
 */

const EPS = 1e-12;

/** softmax(log p / T) of every row of a row-major [n, k] matrix of probabilities. */
export function applyTemperature(probs: Float32Array, k: number, temperature: number): Float32Array {
  const out = new Float32Array(probs.length);
  if (temperature === 1) {
    out.set(probs);
    return out;
  }
  const row = new Float64Array(k);
  for (let r = 0; r < probs.length / k; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = Math.log(Math.max(EPS, probs[r * k + c] as number)) / temperature;
      row[c] = v;
      if (v > max) max = v;
    }
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp((row[c] as number) - max);
      row[c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) out[r * k + c] = (row[c] as number) / sum;
  }
  return out;
}

/** Mean negative log-likelihood of the true labels under softmax(log p / T). */
export function temperatureNll(
  probs: Float32Array,
  labels: readonly number[],
  k: number,
  temperature: number,
): number {
  if (labels.length === 0) return 0;
  let total = 0;
  for (let r = 0; r < labels.length; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = Math.log(Math.max(EPS, probs[r * k + c] as number)) / temperature;
      if (v > max) max = v;
    }
    let sum = 0;
    for (let c = 0; c < k; c++)
      sum += Math.exp(Math.log(Math.max(EPS, probs[r * k + c] as number)) / temperature - max);
    const target = Math.log(Math.max(EPS, probs[r * k + (labels[r] as number)] as number)) / temperature;
    total += Math.log(sum) + max - target;
  }
  return total / labels.length;
}

/** Search range of log T: T in [0.05, 20] covers any plausible over- or under-confidence. */
const LOG_T_MIN = Math.log(0.05);
const LOG_T_MAX = Math.log(20);

/**
 * The temperature minimising validation NLL: golden-section search on log T (the NLL is
 * convex in 1/T, so unimodal in log T), a fixed number of steps, hence deterministic.
 * Returns 1 when there is nothing to fit on.
 */
export function fitTemperature(probs: Float32Array, labels: readonly number[], k: number): number {
  if (labels.length === 0) return 1;
  const f = (logT: number): number => temperatureNll(probs, labels, k, Math.exp(logT));
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = LOG_T_MIN;
  let b = LOG_T_MAX;
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let fc = f(c);
  let fd = f(d);
  // 60 steps shrink the bracket by phi^60 ≈ 3e-13: far below any difference that matters.
  for (let i = 0; i < 60; i++) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - phi * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + phi * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}
