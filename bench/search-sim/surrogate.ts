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
