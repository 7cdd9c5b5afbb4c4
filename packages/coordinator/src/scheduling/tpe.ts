import type { TpeSamplerConfig } from '../study/sampler-config.js';
import { ParzenEstimator, type Coordinates } from '../study/parzen.js';
import { mixSeed, mulberry32, type Prng } from '../study/prng.js';
import type { SearchSpace } from '../study/search-space.js';
import {
  hashHyperparameters,
  isActive,
  SearchSpaceSampler,
  toHyperparameters,
  type Assignment,
  type Proposal,
} from '../study/space-sampling.js';
import { assignmentOf, encodeSpace, fromUnit, toCoordinate, type Dim } from '../study/space-encoding.js';
import type { Observation, ProposalRequest, Sampler } from './sampler.js';

/**
 * Multivariate TPE, and BOHB's choice of what to fit it on.
 *
 * 1. Budget (BOHB): observations are grouped by the epochs of their rung; the model is fitted on
 *    the largest budget with at least `startupTrials` observations. With one budget (random
 *    scheduler) this is plain TPE. Until some budget has enough, proposals are random — the very
 *    draws a random study makes for the same trial indices.
 * 2. Split: observations ranked best first (constraints met, then score, then canonical order);
 *    the top max(1, ⌈γ·n⌉) form l(x), the rest g(x) (multivariate Parzen estimators).
 * 3. `candidates` draws from l(x); the untried one with the largest log l(x) − log g(x) wins.
 *    A share `randomFraction` of proposals is random instead (BOHB keeps exploring this way).
 *
 * Every random number comes from mulberry32(mixSeed(seed, trial index, ...)): the proposal is a
 * function of (seed, index, tried hashes, history) only.
 */
export interface TpeSamplerOptions {
  config: TpeSamplerConfig;
  space: SearchSpace;
  seed: number;
  warmStart: readonly Observation[];
}

/** Salt of TPE's random stream, distinct from the random sampler's (seed, index, attempt) draws. */
const TPE_SALT = 0x747065;

export class TpeSampler implements Sampler {
  private readonly random: SearchSpaceSampler;
  private readonly dims: Dim[];

  constructor(private readonly options: TpeSamplerOptions) {
    this.random = new SearchSpaceSampler(options.space, options.seed);
    this.dims = encodeSpace(options.space);
  }

  propose(request: ProposalRequest): Proposal | null {
    const { config, seed } = this.options;
    const fitted = fittingSet([...this.options.warmStart, ...request.history()], config.startupTrials);
    if (fitted === null) return this.random.propose(request.index, request.tried);
    const prng = mulberry32(mixSeed(seed, request.index, TPE_SALT));
    if (prng.next() < config.randomFraction) return this.random.propose(request.index, request.tried);

    const ranked = [...fitted].sort(rankObservations);
    const nGood = Math.min(ranked.length - 1, Math.max(1, Math.ceil(config.gamma * ranked.length)));
    const encode = (o: Observation): Coordinates =>
      this.coordinates(assignmentOf(this.options.space, o.hyperparameters));
    const good = new ParzenEstimator(this.dims, ranked.slice(0, nGood).map(encode));
    const bad = new ParzenEstimator(this.dims, ranked.slice(nGood).map(encode));

    let best: (Proposal & { gain: number }) | null = null;
    for (let c = 0; c < config.candidates; c++) {
      const assignment = this.draw(good, prng);
      const x = this.coordinates(assignment);
      const gain = good.logDensity(x) - bad.logDensity(x);
      if (best !== null && !(gain > best.gain)) continue;
      const hyperparameters = toHyperparameters(assignment);
      const hpHash = hashHyperparameters(hyperparameters);
      if (request.tried.has(hpHash)) continue;
      best = { hyperparameters, hpHash, gain };
    }
    if (best === null) return this.random.propose(request.index, request.tried);
    return { hyperparameters: best.hyperparameters, hpHash: best.hpHash };
  }

  /** One configuration drawn from l(x), parents before children so conditions are respected. */
  private draw(model: ParzenEstimator, prng: Prng): Assignment {
    const component = model.pickComponent(prng);
    const assignment: Assignment = new Map();
    this.dims.forEach((dim, d) => {
      if (!isActive(dim.spec, assignment)) return;
      if (dim.kind === 'fixed') assignment.set(dim.name, dim.value);
      else if (dim.kind === 'categorical')
        assignment.set(dim.name, dim.values[model.sampleDim(component, d, prng)]!);
      else assignment.set(dim.name, fromUnit(dim, model.sampleDim(component, d, prng)));
    });
    return assignment;
  }

  private coordinates(assignment: Assignment): Coordinates {
    return this.dims.map((dim) => {
      if (dim.kind === 'fixed') return null;
      const value = assignment.get(dim.name);
      return value === undefined ? null : toCoordinate(dim, value);
    });
  }
}

/**
 * BOHB's rule: the observations of the largest budget (epochs) that has at least `minimum` of
 * them, or null when no budget has enough yet (the start-up phase).
 */
export function fittingSet(observations: readonly Observation[], minimum: number): Observation[] | null {
  const byBudget = new Map<number, Observation[]>();
  for (const o of observations) {
    let list = byBudget.get(o.epochs);
    if (!list) byBudget.set(o.epochs, (list = []));
    list.push(o);
  }
  const budgets = [...byBudget.keys()].sort((a, b) => b - a);
  const chosen = budgets.find((b) => byBudget.get(b)!.length >= minimum);
  return chosen === undefined ? null : byBudget.get(chosen)!;
}

/** Best first: constraints met, then score, then canonical order (deterministic ties). */
function rankObservations(a: Observation, b: Observation): number {
  if (a.meetsConstraints !== b.meetsConstraints) return a.meetsConstraints ? -1 : 1;
  if (a.score !== b.score) return b.score - a.score;
  if (a.source !== b.source) return a.source < b.source ? -1 : 1;
  return a.index - b.index || a.rung - b.rung;
}
