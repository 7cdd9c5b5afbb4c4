import type { Prng } from './prng.js';
import type { CategoricalDim, Dim, NumericDim } from './space-encoding.js';

/**
 * A multivariate Parzen estimator over encoded configurations: a mixture with one product
 * kernel per observation plus one uniform "prior" component. Numeric coordinates get a Gaussian
 * truncated to [0, 1] (one bandwidth per dimension, Scott's rule with a floor), categorical ones
 * a smoothed indicator (Aitchison–Aitken). A coordinate an observation does not have (its
 * parameter was inactive there) falls back to the uniform density, which is how conditional
 * parameters are handled: each candidate is scored on the dimensions active for it.
 */

/** Per dimension: a [0, 1] coordinate, a category index, or null (inactive / fixed). */
export type Coordinates = readonly (number | null)[];

export interface ParzenOptions {
  /** Weight of the uniform component relative to one observation. */
  priorWeight?: number;
  /** Probability mass a categorical kernel spreads uniformly over all values. */
  categoricalSmoothing?: number;
  /** Smallest bandwidth of a continuous coordinate. */
  minBandwidth?: number;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): plenty for kernel normalisation. */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-a * a);
  return sign * y;
}

function normalCdf(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

function logSumExp(values: number[]): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > max) max = v;
  if (max === Number.NEGATIVE_INFINITY) return max;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

export class ParzenEstimator {
  private readonly bandwidth: number[];
  /** log Z of each (observation, numeric dimension) truncated kernel. */
  private readonly logMass: number[][];
  private readonly priorWeight: number;
  private readonly smoothing: number;
  private readonly logTotal: number;

  constructor(
    private readonly dims: readonly Dim[],
    private readonly points: readonly Coordinates[],
    options: ParzenOptions = {},
  ) {
    this.priorWeight = options.priorWeight ?? 1;
    this.smoothing = options.categoricalSmoothing ?? 0.25;
    const floor = options.minBandwidth ?? 0.05;
    const numericDims = dims.filter((d) => d.kind === 'numeric').length;
    this.bandwidth = dims.map((dim, d) => {
      if (dim.kind !== 'numeric') return 0;
      const values = points.map((p) => p[d]).filter((v): v is number => v !== null && v !== undefined);
      const gridFloor = dim.grid && dim.grid.length > 1 ? 0.5 / (dim.grid.length - 1) : 0;
      if (values.length < 2) return Math.max(floor, gridFloor, 0.5);
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
      const scott = Math.min(1, sd) * values.length ** (-1 / (numericDims + 4));
      return Math.max(floor, gridFloor, scott);
    });
    this.logMass = points.map((p) =>
      dims.map((dim, d) => {
        const mu = p[d];
        if (dim.kind !== 'numeric' || mu === null || mu === undefined) return 0;
        const sigma = this.bandwidth[d]!;
        return Math.log(Math.max(1e-300, normalCdf((1 - mu) / sigma) - normalCdf(-mu / sigma)));
      }),
    );
    this.logTotal = Math.log(points.length + this.priorWeight);
  }

  /** Log density of a candidate on the dimensions where it has a coordinate. */
  logDensity(x: Coordinates): number {
    const terms: number[] = [];
    // Prior component: uniform on [0, 1] (log 1 = 0) and 1/K per categorical dimension.
    let prior = Math.log(this.priorWeight);
    for (let d = 0; d < this.dims.length; d++) {
      const dim = this.dims[d]!;
      if (x[d] !== null && x[d] !== undefined && dim.kind === 'categorical')
        prior -= Math.log(dim.values.length);
    }
    terms.push(prior);
    for (let i = 0; i < this.points.length; i++) {
      const point = this.points[i]!;
      let term = 0;
      for (let d = 0; d < this.dims.length; d++) {
        const value = x[d];
        if (value === null || value === undefined) continue;
        term += this.kernelLog(i, d, point[d] ?? null, value);
      }
      terms.push(term);
    }
    return logSumExp(terms) - this.logTotal;
  }

  private kernelLog(i: number, d: number, center: number | null, value: number): number {
    const dim = this.dims[d]!;
    if (dim.kind === 'categorical') {
      const k = dim.values.length;
      if (center === null) return -Math.log(k);
      return Math.log((center === value ? 1 - this.smoothing : 0) + this.smoothing / k);
    }
    if (dim.kind !== 'numeric' || center === null) return 0;
    const sigma = this.bandwidth[d]!;
    const z = (value - center) / sigma;
    return -0.5 * z * z - LOG_SQRT_2PI - Math.log(sigma) - this.logMass[i]![d]!;
  }

  /** Picks a mixture component: an observation's index, or -1 for the uniform prior. */
  pickComponent(prng: Prng): number {
    const r = prng.next() * (this.points.length + this.priorWeight);
    return r < this.priorWeight ? -1 : Math.min(this.points.length - 1, Math.floor(r - this.priorWeight));
  }

  /** Draws dimension `d` from component `component` (-1 or an inactive centre: uniform). */
  sampleDim(component: number, d: number, prng: Prng): number {
    const dim = this.dims[d] as NumericDim | CategoricalDim;
    const center = component < 0 ? null : (this.points[component]![d] ?? null);
    if (dim.kind === 'categorical') {
      if (center !== null && prng.next() >= this.smoothing) return center;
      return prng.nextInt(dim.values.length);
    }
    if (center === null) return prng.next();
    const sigma = this.bandwidth[d]!;
    for (let attempt = 0; attempt < 32; attempt++) {
      // Box–Muller; 1 - next() avoids log(0).
      const z = Math.sqrt(-2 * Math.log(1 - prng.next())) * Math.cos(2 * Math.PI * prng.next());
      const value = center + sigma * z;
      if (value >= 0 && value <= 1) return value;
    }
    return Math.min(1, Math.max(0, center));
  }
}
