import type { Hyperparameters } from '@braintune/protocol';
import {
  assignmentOf,
  encodeSpace,
  mixSeed,
  mulberry32,
  toCoordinate,
  type Dim,
  type SearchSpace,
} from '../../packages/coordinator/src/study/index.js';
import type { RecordedCurve } from './curves.js';

/**
 * The training of a simulated trial: the learning curve of a k-nearest-neighbour surrogate fitted
 * on the recorded curves (inverse-distance weights over normalised hyperparameters), plus noise
 * that depends on the benchmark seed and the configuration.
 *
 * Why kNN: with a few dozen recorded configurations in a 15-dimensional mixed space, a random
 * forest has too little data per leaf to beat it, and kNN cannot invent a curve better than every
 * recorded one (predictions are convex combinations of real curves), so a sampler cannot "win" by
 * exploiting an extrapolation artefact. The noise (σ 0.01 per configuration and seed, σ 0.005
 * per epoch) stands for the spread between training seeds of one configuration.
 *
 * Distance: numeric coordinates in [0, 1] (log parameters in log space), 0/1 for categorical
 * mismatches, 1 when a parameter is active on one side only; Euclidean over all dimensions.
 */
export class CurveSurrogate {
  private readonly dims: Dim[];
  private readonly points: (number | null)[][];

  constructor(
    private readonly space: SearchSpace,
    private readonly curves: readonly RecordedCurve[],
    private readonly k = 3,
    /** Scale of the seed noise (0: the noise-free surrogate). */
    private readonly noise = 1,
  ) {
    this.dims = encodeSpace(space);
    this.points = curves.map((c) => this.encode(c.hyperparameters));
  }

  private encode(hp: Hyperparameters): (number | null)[] {
    const assignment = assignmentOf(this.space, hp);
    return this.dims.map((dim) => {
      if (dim.kind === 'fixed') return null;
      const v = assignment.get(dim.name);
      return v === undefined ? null : toCoordinate(dim, v);
    });
  }

  private distance(a: (number | null)[], b: (number | null)[]): number {
    let sum = 0;
    this.dims.forEach((dim, d) => {
      const x = a[d] ?? null;
      const y = b[d] ?? null;
      if (dim.kind === 'fixed' || (x === null && y === null)) return;
      if (x === null || y === null) sum += 1;
      else if (dim.kind === 'categorical') sum += x === y ? 0 : 1;
      else sum += (x - y) ** 2;
    });
    return Math.sqrt(sum);
  }

  /** Validation accuracy after each epoch 1..E of a configuration, for one benchmark seed. */
  curve(hp: Hyperparameters, hpHash: string, seed: number): number[] {
    const x = this.encode(hp);
    const ranked = this.points
      .map((p, i) => ({ i, d: this.distance(x, p) }))
      .sort((a, b) => a.d - b.d || a.i - b.i)
      .slice(0, this.k);
    const weights = ranked.map((r) => 1 / (r.d + 1e-3));
    const total = weights.reduce((s, w) => s + w, 0);
    const epochs = this.curves[0]!.epochs.length;
    const prng = mulberry32(mixSeed(seed, parseInt(hpHash.slice(0, 8), 16)));
    const gauss = (): number =>
      Math.sqrt(-2 * Math.log(1 - prng.next())) * Math.cos(2 * Math.PI * prng.next());
    const offset = this.noise * 0.01 * gauss();
    const out: number[] = [];
    for (let e = 0; e < epochs; e++) {
      let acc = 0;
      ranked.forEach(
        (r, j) => (acc += (weights[j]! / total) * (this.curves[r.i]!.epochs[e]?.valAccuracy ?? 0)),
      );
      out.push(Math.min(1, Math.max(0, acc + offset + this.noise * 0.005 * gauss())));
    }
    return out;
  }
}

/** How well the surrogate predicts a configuration it has not seen (leave-one-out on the recorded curves). */
export interface SurrogateFidelity {
  /** Root mean squared error of the predicted final accuracy. */
  rmseFinal: number;
  /** The same error for the constant predictor (mean of the other curves' finals): the bar to beat. */
  rmseFinalOfMean: number;
  /** Spearman rank correlation of predicted and recorded final accuracies. */
  spearmanFinal: number;
}

/**
 * Leave-one-out: each recorded configuration predicted (noise-free) from the others. Reported by
 * the benchmark so that its numbers can be read against how much the surrogate actually knows.
 */
export function leaveOneOut(space: SearchSpace, curves: readonly RecordedCurve[], k = 3): SurrogateFidelity {
  const recorded: number[] = [];
  const predicted: number[] = [];
  const ofMean: number[] = [];
  curves.forEach((held, i) => {
    const others = curves.filter((_, j) => j !== i);
    const prediction = new CurveSurrogate(space, others, k, 0).curve(held.hyperparameters, '00000000', 0);
    recorded.push(held.epochs.at(-1)?.valAccuracy ?? 0);
    predicted.push(prediction.at(-1)!);
    ofMean.push(others.reduce((s, c) => s + (c.epochs.at(-1)?.valAccuracy ?? 0), 0) / others.length);
  });
  const rmse = (p: number[]): number =>
    Math.sqrt(p.reduce((s, v, i) => s + (v - recorded[i]!) ** 2, 0) / Math.max(1, p.length));
  return {
    rmseFinal: round4(rmse(predicted)),
    rmseFinalOfMean: round4(rmse(ofMean)),
    spearmanFinal: round4(pearson(ranks(predicted), ranks(recorded))),
  };
}

function ranks(values: number[]): number[] {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const out = new Array<number>(values.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.v === order[start]!.v) end++;
    for (let j = start; j <= end; j++) out[order[j]!.i] = (start + end) / 2;
    start = end + 1;
  }
  return out;
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
