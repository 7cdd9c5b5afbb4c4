import { describe, expect, it } from 'vitest';
import { Rng } from '../training/rng.js';
import { calibrateProbabilities } from './calibrate.js';
import { expectedCalibrationError } from './ece.js';
import { chooseOperatingPoint } from './operating-point.js';
import { applyTemperature, fitTemperature, temperatureNll } from './temperature.js';

/** n rows of k logits; labels drawn from softmax(logits / trueT); returns softmax(logits) (T = 1). */
function synthetic(n: number, k: number, trueT: number, seed: number) {
  const rng = new Rng(seed);
  const probs = new Float32Array(n * k);
  const labels: number[] = [];
  for (let r = 0; r < n; r++) {
    const z = Array.from({ length: k }, () => rng.uniform(-4, 4));
    const soft = (t: number) => {
      const e = z.map((v) => Math.exp(v / t));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    soft(1).forEach((p, c) => (probs[r * k + c] = p));
    const target = soft(trueT);
    let u = rng.next();
    let label = k - 1;
    for (let c = 0; c < k; c++) {
      u -= target[c] as number;
      if (u < 0) {
        label = c;
        break;
      }
    }
    labels.push(label);
  }
  return { probs, labels };
}

describe('temperature scaling', () => {
  it.each([0.5, 1, 2.5])('recovers a known temperature (%s) from synthetic logits', (trueT) => {
    const { probs, labels } = synthetic(6000, 4, trueT, 11);
    const t = fitTemperature(probs, labels, 4);
    expect(Math.abs(Math.log(t / trueT))).toBeLessThan(0.08);
    // The fit minimises NLL: nudging T either way does not lower it.
    const at = temperatureNll(probs, labels, 4, t);
    expect(at).toBeLessThanOrEqual(temperatureNll(probs, labels, 4, t * 1.05));
    expect(at).toBeLessThanOrEqual(temperatureNll(probs, labels, 4, t / 1.05));
  });

  it('is deterministic, keeps the argmax and leaves T = 1 untouched', () => {
    const { probs, labels } = synthetic(500, 3, 2, 5);
    expect(fitTemperature(probs, labels, 3)).toBe(fitTemperature(probs, labels, 3));
    expect(Array.from(applyTemperature(probs, 3, 1))).toEqual(Array.from(probs));
    const scaled = applyTemperature(probs, 3, 2);
    for (let r = 0; r < 500; r++) {
      const row = (m: Float32Array) => [m[r * 3], m[r * 3 + 1], m[r * 3 + 2]] as number[];
      const a = row(probs);
      const b = row(scaled);
      expect(b.indexOf(Math.max(...b))).toBe(a.indexOf(Math.max(...a)));
      expect(b.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    }
  });

  it('lowers the ECE of an over-confident model', () => {
    const { probs, labels } = synthetic(4000, 4, 2.5, 3);
    const c = calibrateProbabilities(probs, labels, 4);
    expect(c.temperature).toBeGreaterThan(2);
    expect(c.eceAfter).toBeLessThan(c.eceBefore / 2);
    expect(c.nllAfter).toBeLessThan(c.nllBefore);
    expect(c.images).toBe(4000);
  });
});

describe('expected calibration error', () => {
  it('matches a hand computation (15 equal-width bins, top label)', () => {
    // Top confidences 0.95 ✓, 0.7 ✗, 0.62 ✓, 0.57 ✗, 0.93 ✓, 0.91 ✗ (the last two share bin 13).
    const rows: [number, number][] = [
      [0.95, 0],
      [0.7, 1],
      [0.62, 0],
      [0.57, 1],
      [0.93, 0],
      [0.91, 1],
    ];
    const probs = new Float32Array(rows.flatMap(([p]) => [p, 1 - p]));
    const labels = rows.map(([, l]) => l);
    const hand = (0.05 + 0.7 + 0.38 + 0.57 + 2 * Math.abs(0.5 - 0.92)) / 6;
    expect(expectedCalibrationError(probs, labels, 2)).toBeCloseTo(hand, 6);
    expect(expectedCalibrationError(new Float32Array(), [], 2)).toBe(0);
  });
});

describe('operating point', () => {
  // Confidences 0.3 ✗, 0.4 ✗, 0.5 ✓, 0.6 ✗, then 16 correct from 0.7 up.
  const confidence = [0.3, 0.4, 0.5, 0.6, ...Array.from({ length: 16 }, (_, i) => 0.7 + i * 0.018)];
  const correct = [false, false, true, false, ...new Array<boolean>(16).fill(true)];

  it('takes the lowest threshold whose accepted error meets the target within the referral cap', () => {
    const op = chooseOperatingPoint(confidence, correct, { targetError: 0.05, maxReferral: 0.25 });
    expect(op).toMatchObject({ threshold: 0.7, referralRate: 0.2, acceptedErrorRate: 0, targetMet: true });
    // A looser target stops earlier: 1 error in 18 accepted is ≤ 6 %.
    expect(chooseOperatingPoint(confidence, correct, { targetError: 0.06 })).toMatchObject({
      threshold: 0.5,
      referralRate: 0.1,
    });
  });

  it('falls back to the fewest errors within the cap, and says the target was missed', () => {
    const op = chooseOperatingPoint(confidence, correct, { targetError: 0.01, maxReferral: 0.1 });
    expect(op).toMatchObject({ threshold: 0.5, referralRate: 0.1, targetMet: false });
    expect(op.acceptedErrorRate).toBeCloseTo(1 / 18, 10);
  });

  it('never refers when the model already meets the target, and ties stay together', () => {
    expect(chooseOperatingPoint([0.9, 0.8, 0.7], [true, true, true]).threshold).toBe(0);
    // Two scans at 0.5, one wrong: a threshold cannot split them, so both are referred together.
    const op = chooseOperatingPoint([0.5, 0.5, 0.9, 0.9], [false, true, true, true], { maxReferral: 0.5 });
    expect(op).toMatchObject({ threshold: 0.9, referralRate: 0.5, acceptedErrorRate: 0 });
  });
});
