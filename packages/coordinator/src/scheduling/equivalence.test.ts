import { describe, expect, it } from 'vitest';
import { parseStudyConfig } from '../study/config.js';
import { createScheduler } from './create-scheduler.js';
import { createReferenceScheduler } from '../../test/reference-schedulers.js';
import {
  defaultOutcome,
  simulateStudy,
  type SimulatedRungOutcome,
  type SimulationOptions,
} from './simulate.js';
import type { Decision, RungRecord, Scheduler, StudyState, TrialRecord } from './types.js';

/**
 * The incremental schedulers must decide exactly what the full-scan reference schedulers (the
 * code before the rewrite, kept in test/reference-schedulers.ts) decide, call by call. Each case runs
 * one simulation per implementation and compares the complete sequences of (idleSlots, decisions).
 * Because the simulator is deterministic given the decisions, equal sequences mean equal runs.
 */

const CONTINUOUS =
  '{learningRate: {type: float, min: 0.0001, max: 0.1, sampling: log}, convDropout: {type: float, min: 0, max: 0.5}}';
const DISCRETE_12 =
  '{"augmentation.flip": {type: boolean}, optimizer: [adam, sgd, rmsprop], pooling: [flatten, gap]}';

function configOf(scheduler: string, extra = '', space = CONTINUOUS, seed = 7) {
  return parseStudyConfig(
    `name: eq\ndataset: {path: /d}\nseed: ${seed}\nsearchSpace: ${space}\nscheduler: ${scheduler}\n${extra}`,
  );
}

/** Deterministic per (trial, rung) pseudo-random number in [0, 1). */
function noise(trial: TrialRecord, rung: RungRecord, salt: number): number {
  let h =
    (parseInt(trial.hpHash.slice(0, 8), 16) ^
      Math.imul(rung.rung + 1, 0x9e3779b1) ^
      Math.imul(salt, 0x85ebca6b)) >>>
    0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

/** Quantised scores (many ties, broken by creation order), some constraint misses, some failed rungs. */
function roughOutcome(trial: TrialRecord, rung: RungRecord): SimulatedRungOutcome {
  if (noise(trial, rung, 1) < 0.07) return { score: null };
  const base = defaultOutcome(trial, rung).score!;
  return { score: Math.round(base * 20) / 20, meetsConstraints: noise(trial, rung, 2) >= 0.2 };
}

type Variant = 'journal' | 'diff' | 'alternating' | 'repeated' | 'forgetful';

/**
 * Wraps the incremental scheduler to exercise its change detection: `alternating` hides the
 * journal on every other call (journal ↔ diff switches), `forgetful` keeps the journal but has it
 * answer "no longer known" every third call, and `repeated` asks twice per step and keeps the
 * second answer (the overlay of an unapplied call must leave no trace).
 */
function variantOf(inner: Scheduler, variant: Variant): Scheduler {
  let calls = 0;
  return {
    plannedRungs: () => inner.plannedRungs(),
    decide(state: StudyState, idleSlots: number): Decision[] {
      calls++;
      if (variant === 'alternating' && calls % 2 === 0)
        return inner.decide({ trials: state.trials, elapsedMinutes: state.elapsedMinutes }, idleSlots);
      if (variant === 'forgetful' && calls % 3 === 0 && state.changes) {
        const { source, version } = state.changes;
        return inner.decide({ ...state, changes: { source, version, changedSince: () => null } }, idleSlots);
      }
      if (variant === 'repeated') inner.decide(state, idleSlots);
      return inner.decide(state, idleSlots);
    },
  };
}

function record(options: Omit<SimulationOptions, 'onDecide'>): string[] {
  const calls: string[] = [];
  const result = simulateStudy({
    ...options,
    onDecide: (call) => calls.push(JSON.stringify([call.idleSlots, call.decisions])),
  });
  calls.push(JSON.stringify({ completion: result.completion, trials: result.trials, rungs: result.rungs }));
  return calls;
}

/** Compares call by call so a failure names the first call that differs, not a 10 MB diff. */
function expectSameCalls(actual: string[], expected: string[]): void {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++)
    if (actual[i] !== expected[i])
      expect({ call: i, decisions: actual[i] }).toEqual({ call: i, decisions: expected[i] });
  expect(actual.length).toBe(expected.length);
}

interface Case {
  name: string;
  config: ReturnType<typeof configOf>;
  sim: Omit<SimulationOptions, 'onDecide' | 'scheduler' | 'trackChanges'>;
  variants: Variant[];
}

const uneven = (trial: TrialRecord) => 1 + (trial.index % 5) * 0.37;

const cases: Case[] = [
  {
    name: 'ASHA, 3000 trials, 50 workers (27, 3)',
    config: configOf('{type: asha, maxEpochs: 27, minEpochs: 1, factor: 3, maxTrials: 3000}'),
    sim: { workers: 50 },
    variants: ['journal', 'diff'],
  },
  {
    name: 'ASHA, 500 trials, 13 workers, uneven epochs, ties, constraint misses and failures',
    config: configOf(
      '{type: asha, maxEpochs: 27, minEpochs: 1, factor: 3, maxTrials: 500}',
      '',
      CONTINUOUS,
      3,
    ),
    sim: { workers: 13, epochMinutes: uneven, outcome: roughOutcome, prefetch: 2 },
    variants: ['journal', 'alternating', 'repeated', 'forgetful'],
  },
  {
    name: 'ASHA, factor 2, 1 worker, wall-clock budget',
    config: configOf(
      '{type: asha, maxEpochs: 16, minEpochs: 1, factor: 2, maxTrials: 400}',
      'budget: {maxWallClockMinutes: 300}',
      CONTINUOUS,
      11,
    ),
    sim: { workers: 1, outcome: roughOutcome },
    variants: ['journal', 'repeated'],
  },
  {
    name: 'ASHA, budget.maxTrials below maxTrials, 7 workers',
    config: configOf(
      '{type: asha, maxEpochs: 9, factor: 3, maxTrials: 500}',
      'budget: {maxTrials: 180}',
      CONTINUOUS,
      5,
    ),
    sim: { workers: 7, epochMinutes: uneven, outcome: roughOutcome },
    variants: ['journal', 'diff'],
  },
  {
    name: 'ASHA, tiny discrete space (exhausted)',
    config: configOf('{type: asha, maxEpochs: 9, factor: 3, maxTrials: 50}', '', DISCRETE_12),
    sim: { workers: 4, outcome: roughOutcome },
    variants: ['journal', 'alternating'],
  },
  {
    name: 'Hyperband (27, 3) × 5 iterations, 16 workers, uneven epochs and failures',
    config: configOf('{type: hyperband, maxEpochs: 27, factor: 3, iterations: 5}', '', CONTINUOUS, 13),
    sim: { workers: 16, epochMinutes: uneven, outcome: roughOutcome, prefetch: 1 },
    variants: ['journal', 'alternating', 'repeated', 'forgetful'],
  },
  {
    name: 'Hyperband (9, 3) × 20 iterations, 3 workers',
    config: configOf('{type: hyperband, maxEpochs: 9, factor: 3, iterations: 20}', '', CONTINUOUS, 17),
    sim: { workers: 3 },
    variants: ['journal', 'diff'],
  },
  {
    name: 'Hyperband, budgets (maxTrials, wall clock) and an exhausted space, 30 workers',
    config: configOf(
      '{type: hyperband, maxEpochs: 27, factor: 3, iterations: 3}',
      'budget: {maxTrials: 100, maxWallClockMinutes: 200}',
      DISCRETE_12,
      19,
    ),
    sim: { workers: 30, outcome: roughOutcome, epochMinutes: uneven },
    variants: ['journal', 'repeated'],
  },
  {
    name: 'Hyperband, wall clock ends mid-bracket, 5 workers',
    config: configOf(
      '{type: hyperband, maxEpochs: 27, factor: 3, iterations: 4}',
      'budget: {maxWallClockMinutes: 150}',
      CONTINUOUS,
      23,
    ),
    sim: { workers: 5, outcome: roughOutcome, epochMinutes: uneven },
    variants: ['journal', 'diff'],
  },
  {
    name: 'Random, 600 trials, 9 workers, failures and wall clock',
    config: configOf(
      '{type: random, epochs: 3, maxTrials: 600}',
      'budget: {maxWallClockMinutes: 190}',
      CONTINUOUS,
      29,
    ),
    sim: { workers: 9, outcome: roughOutcome, epochMinutes: uneven, prefetch: 3 },
    variants: ['journal', 'alternating', 'repeated'],
  },
  {
    name: 'Random, tiny discrete space (exhausted)',
    config: configOf('{type: random, epochs: 2, maxTrials: 40}', '', DISCRETE_12),
    sim: { workers: 5 },
    variants: ['journal', 'diff'],
  },
];

describe('incremental schedulers decide exactly as the full-scan reference', () => {
  for (const c of cases) {
    it(c.name, () => {
      const expected = record({
        ...c.sim,
        scheduler: createReferenceScheduler(c.config),
        trackChanges: false,
      });
      // Sanity: the case really exercises something (the last entry is the summary).
      expect(expected.length).toBeGreaterThan(3);
      for (const variant of c.variants) {
        const scheduler = variantOf(createScheduler(c.config), variant);
        const actual = record({ ...c.sim, scheduler, trackChanges: variant !== 'diff' });
        expectSameCalls(actual, expected);
      }
    });
  }

  it('decides the same on a state handed over as a fresh copy each call (rebuilds and diffs)', () => {
    const config = configOf('{type: asha, maxEpochs: 9, factor: 3, maxTrials: 300}', '', CONTINUOUS, 31);
    const expected = record({
      workers: 6,
      outcome: roughOutcome,
      scheduler: createReferenceScheduler(config),
      trackChanges: false,
    });
    const inner = createScheduler(config);
    let calls = 0;
    const copying: Scheduler = {
      plannedRungs: () => null,
      decide(state, idleSlots) {
        calls++;
        const copy = structuredClone({ trials: state.trials, elapsedMinutes: state.elapsedMinutes });
        // Every third call the trials also arrive in reverse order: positions no longer match.
        if (calls % 3 === 0) copy.trials.reverse();
        return inner.decide(copy, idleSlots);
      },
    };
    expectSameCalls(record({ workers: 6, outcome: roughOutcome, scheduler: copying }), expected);
  });
});
