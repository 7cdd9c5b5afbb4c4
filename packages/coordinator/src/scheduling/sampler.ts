import type { Hyperparameters } from '@braintune/protocol';
import type { SamplerConfig } from '../study/sampler-config.js';
import type { SearchSpace } from '../study/search-space.js';
import { SearchSpaceSampler, type Proposal } from '../study/space-sampling.js';
import { TpeSampler } from './tpe.js';
import type { TrialRecord } from './types.js';
import { isEligibleRung } from './working-state.js';

/**
 * The sampler seam (Optuna's split between samplers and pruners): schedulers decide budgets,
 * brackets and promotions and ask a `Sampler` for each new configuration.
 *
 * A sampler is a pure function of (study seed, trial index, tried hashes, history): no I/O, no
 * clock, no state carried between calls that could change an answer. Which history a proposal
 * sees is defined once, here:
 *
 *   the history of trial k = every completed, scored rung recorded in the study when trial k is
 *   created (plus the warm-start observations), in canonical order (source, trial index, rung).
 *
 * The coordinator creates trials in the same transaction that reads that state, and the
 * migration `0004_sampler_history` stamps each finished rung with a study-wide result sequence
 * number and each new trial with the last sequence number it could see (`history_seq`), so the
 * snapshot behind every stored proposal can be rebuilt from Postgres (`historyAt`) and a
 * restarted coordinator, which rebuilds the same state, proposes the same next configuration.
 */

/** One finished rung: what the configuration scored after `epochs` epochs. */
export interface Observation {
  /** '' for the study itself, the study id for warm-start observations. */
  source: string;
  /** Trial index within its source study. */
  index: number;
  rung: number;
  /** Epochs trained when the score was taken (the budget of the rung). */
  epochs: number;
  hyperparameters: Hyperparameters;
  /** Objective oriented so that larger is better. */
  score: number;
  meetsConstraints: boolean;
}

export interface ProposalRequest {
  /** Creation index of the new trial. */
  index: number;
  /** Hashes of every configuration the study already holds (never proposed again). */
  tried: ReadonlySet<string>;
  /** The history (see above); a function so that random sampling never builds it. */
  history: () => readonly Observation[];
}

export interface Sampler {
  /** A new configuration, or null when the space has no untried point left. */
  propose(request: ProposalRequest): Proposal | null;
}

/** Today's behaviour: seeded uniform draws that never repeat a tried configuration. */
export class RandomSampler implements Sampler {
  private readonly inner: SearchSpaceSampler;

  constructor(space: SearchSpace, seed: number) {
    this.inner = new SearchSpaceSampler(space, seed);
  }

  propose(request: ProposalRequest): Proposal | null {
    return this.inner.propose(request.index, request.tried);
  }
}

export interface SamplerOptions {
  config: SamplerConfig;
  space: SearchSpace;
  seed: number;
  /** Results of earlier studies on the same space (warm start), already in canonical order. */
  warmStart?: readonly Observation[];
}

export function createSampler(options: SamplerOptions): Sampler {
  const { config, space, seed } = options;
  if (config.type === 'random') return new RandomSampler(space, seed);
  return new TpeSampler({ config, space, seed, warmStart: options.warmStart ?? [] });
}

/** Canonical order of observations: source, then trial index, then rung. */
export function compareObservations(a: Observation, b: Observation): number {
  if (a.source !== b.source) return a.source < b.source ? -1 : 1;
  return a.index - b.index || a.rung - b.rung;
}

/** The observations of a study's trials (completed, scored rungs), in canonical order. */
export function observationsOf(trials: Iterable<TrialRecord>, source = ''): Observation[] {
  const out: Observation[] = [];
  for (const trial of trials) {
    for (const rung of trial.rungs) {
      if (!isEligibleRung(rung) || rung.score === null) continue;
      out.push({
        source,
        index: trial.index,
        rung: rung.rung,
        epochs: rung.toEpoch,
        hyperparameters: trial.hyperparameters,
        score: rung.score,
        meetsConstraints: rung.meetsConstraints,
      });
    }
  }
  return out.sort(compareObservations);
}
