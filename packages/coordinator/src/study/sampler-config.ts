import { z } from 'zod';

/**
 * `sampler:` in a study config: how new configurations are proposed. The scheduler decides
 * budgets and promotions; the sampler only picks the next point of the search space.
 *
 * - `random` (default): seeded uniform draws, exactly the trials of configs without a sampler.
 * - `tpe`: a multivariate Tree-structured Parzen Estimator (Bergstra et al. 2011; Falkner et al.
 *   2018's multivariate form). With Hyperband or ASHA it is fitted on the results of the highest
 *   rung with `startupTrials` observations, which is BOHB's rule.
 * - `bohb`: the same estimator with BOHB's published defaults (top 15 % are "good", a third of
 *   the proposals random, 64 candidates).
 */

const num = (what: string) => z.number({ error: `must be ${what}` });
const count = (min: number, max: number) => {
  const text = `must be an integer from ${min} to ${max}`;
  return z.number({ error: text }).int({ error: text }).min(min, { error: text }).max(max, { error: text });
};

const tpeKnobs = {
  /** Observations a rung needs before the model is used; until then proposals are random. */
  startupTrials: count(2, 10_000),
  /** Fraction of the observations (best first) that form the "good" density l(x). */
  gamma: num('a number > 0 and < 1')
    .gt(0, { error: 'must be a number > 0 and < 1' })
    .lt(1, { error: 'must be a number > 0 and < 1' }),
  /** Candidates drawn from l(x); the one with the largest l(x)/g(x) is proposed. */
  candidates: count(1, 10_000),
  /** Share of proposals drawn uniformly at random after the start-up phase (BOHB's random_fraction). */
  randomFraction: num('a number from 0 to 1')
    .min(0, { error: 'must be a number from 0 to 1' })
    .max(1, { error: 'must be a number from 0 to 1' }),
};

export const RandomSamplerConfigSchema = z.strictObject({ type: z.literal('random') });
export const TpeSamplerConfigSchema = z.strictObject({
  type: z.literal('tpe'),
  startupTrials: tpeKnobs.startupTrials.default(6),
  gamma: tpeKnobs.gamma.default(0.25),
  candidates: tpeKnobs.candidates.default(24),
  randomFraction: tpeKnobs.randomFraction.default(0),
});
export const BohbSamplerConfigSchema = z.strictObject({
  type: z.literal('bohb'),
  startupTrials: tpeKnobs.startupTrials.default(6),
  gamma: tpeKnobs.gamma.default(0.15),
  candidates: tpeKnobs.candidates.default(64),
  randomFraction: tpeKnobs.randomFraction.default(1 / 3),
});

export const SamplerConfigSchema = z.discriminatedUnion(
  'type',
  [RandomSamplerConfigSchema, TpeSamplerConfigSchema, BohbSamplerConfigSchema],
  { error: 'type must be one of random, tpe, bohb' },
);
export type SamplerConfig = z.output<typeof SamplerConfigSchema>;
export type TpeSamplerConfig = z.output<typeof TpeSamplerConfigSchema | typeof BohbSamplerConfigSchema>;

/** `warmStart: {studies: [id, …]}`: earlier studies on the same space whose results seed the sampler. */
export const WarmStartSchema = z.strictObject({
  studies: z
    .array(z.string().min(1, { error: 'must be a study id' }), { error: 'must be a list of study ids' })
    .min(1, { error: 'must list at least one study id' })
    .max(100, { error: 'must list at most 100 study ids' })
    .refine((ids) => new Set(ids).size === ids.length, { error: 'must not repeat a study id' }),
});
export type WarmStart = z.output<typeof WarmStartSchema>;
