import { describe, expect, it } from 'vitest';
import { parseStudyConfig, type StudyConfig } from '../study/config.js';
import { SearchSpaceSampler } from '../study/space-sampling.js';
import { createScheduler } from './create-scheduler.js';
import { compareObservations, observationsOf, type Observation } from './sampler.js';
import { simulateStudy } from './simulate.js';
import { fittingSet, TpeSampler } from './tpe.js';
import type { Decision, Scheduler, StudyState, TrialRecord } from './types.js';

const SPACE = `{
  learningRate: {type: float, min: 0.0001, max: 0.1, sampling: log},
  convDropout: {type: float, min: 0, max: 0.5, step: 0.1},
  convBlocks: {type: int, min: 2, max: 5},
  optimizer: [adam, sgd],
  momentum: {type: choice, values: [0.8, 0.9, 0.95], when: {optimizer: sgd}},
  augmentation.flip: {type: boolean}
}`;

function config(scheduler: string, sampler = '', seed = 11): StudyConfig {
  return parseStudyConfig(
    `name: t\ndataset: {path: /d}\nsearchSpace: ${SPACE}\nscheduler: ${scheduler}\n${sampler}\nseed: ${seed}`,
  );
}

/** A smooth synthetic objective with its optimum at lr 3e-3, dropout 0.1, 4 blocks, adam, flip. */
function quality(trial: TrialRecord): number {
  const hp = trial.hyperparameters;
  const lr = (Math.log10(hp.learningRate) - Math.log10(3e-3)) ** 2;
  const drop = (hp.convDropout - 0.1) ** 2 * 8;
  const blocks = ((hp.convBlocks - 4) / 2) ** 2;
  const opt = hp.optimizer === 'adam' ? 0 : 0.3;
  const flip = hp.augmentation.flip ? 0 : 0.1;
  return Math.exp(-(lr + drop + blocks + opt + flip));
}

function run(cfg: StudyConfig, scheduler: Scheduler = createScheduler(cfg)) {
  return simulateStudy({
    scheduler,
    workers: 2,
    outcome: (trial, rung) => ({ score: quality(trial) * (1 - Math.exp(-rung.toEpoch / 3)) }),
  });
}

describe('random sampler (the default)', () => {
  it.each([
    ['hyperband', '{type: hyperband, maxEpochs: 9, factor: 3}'],
    ['asha', '{type: asha, maxEpochs: 9, factor: 3, maxTrials: 30}'],
    ['random', '{type: random, epochs: 3, maxTrials: 20}'],
  ])('%s proposes exactly the seeded search-space draws of trial 0, 1, 2, …', (_name, scheduler) => {
    const implicit = run(config(scheduler));
    const explicit = run(config(scheduler, 'sampler: {type: random}'));
    const space = config(scheduler).searchSpace;
    const draws = new SearchSpaceSampler(space, 11);
    const tried = new Set<string>();
    const expected = implicit.state.trials.map((t) => {
      const p = draws.propose(t.index, tried)!;
      tried.add(p.hpHash);
      return p.hpHash;
    });
    expect(implicit.state.trials.map((t) => t.hpHash)).toEqual(expected);
    expect(explicit.state.trials.map((t) => t.hpHash)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(10);
  });
});

describe('TPE', () => {
  it('is deterministic in (seed, index, tried, history) and independent of the history order', () => {
    const cfg = config('{type: random, epochs: 3, maxTrials: 30}', 'sampler: {type: tpe}');
    const study = run(cfg);
    const history = observationsOf(study.state.trials);
    const shuffled = [...history].reverse().sort(compareObservations);
    const make = () =>
      new TpeSampler({
        config: { type: 'tpe', startupTrials: 6, gamma: 0.25, candidates: 24, randomFraction: 0 },
        space: cfg.searchSpace,
        seed: 3,
        warmStart: [],
      });
    const request = (h: readonly Observation[]) => ({
      index: 30,
      tried: new Set<string>(),
      history: () => h,
    });
    const a = make().propose(request(history));
    const b = make().propose(request(shuffled));
    expect(a).not.toBeNull();
    expect(b).toEqual(a);
    // Different history, different proposal: the model is really used.
    const c = make().propose(request(history.slice(0, 10)));
    expect(c?.hpHash).not.toBe(a?.hpHash);
  });

  it('starts with the random draws and then finds better configurations than random search', () => {
    const gains: number[] = [];
    for (let seed = 1; seed <= 8; seed++) {
      const random = run(config('{type: random, epochs: 3, maxTrials: 40}', '', seed));
      const tpe = run(config('{type: random, epochs: 3, maxTrials: 40}', 'sampler: {type: tpe}', seed));
      // Start-up phase: the first proposals are the random study's.
      expect(tpe.state.trials.slice(0, 6).map((t) => t.hpHash)).toEqual(
        random.state.trials.slice(0, 6).map((t) => t.hpHash),
      );
      const best = (r: typeof random) => Math.max(...r.state.trials.map(quality));
      const meanLate = (r: typeof random) =>
        r.state.trials.slice(20).reduce((s, t) => s + quality(t), 0) / (r.state.trials.length - 20);
      gains.push(meanLate(tpe) - meanLate(random));
      expect(best(tpe)).toBeGreaterThan(0);
    }
    // The later TPE proposals are better on average than random ones for every seed.
    expect(gains.every((g) => g > 0)).toBe(true);
  });

  it('respects conditions, grids and bounds', () => {
    const study = run(
      config('{type: random, epochs: 1, maxTrials: 60}', 'sampler: {type: tpe, startupTrials: 4}'),
    );
    for (const trial of study.state.trials) {
      const hp = trial.hyperparameters;
      expect(hp.learningRate).toBeGreaterThanOrEqual(0.0001);
      expect(hp.learningRate).toBeLessThanOrEqual(0.1);
      expect([0, 0.1, 0.2, 0.3, 0.4, 0.5]).toContain(hp.convDropout);
      expect([2, 3, 4, 5]).toContain(hp.convBlocks);
      // momentum keeps its protocol default unless the optimizer is sgd
      if (hp.optimizer !== 'sgd') expect(hp.momentum).toBe(0.9);
      else expect([0.8, 0.9, 0.95]).toContain(hp.momentum);
    }
    expect(new Set(study.state.trials.map((t) => t.hpHash)).size).toBe(study.state.trials.length);
  });
});

describe('BOHB budget choice', () => {
  const obs = (index: number, epochs: number, score = index): Observation => ({
    source: '',
    index,
    rung: 0,
    epochs,
    hyperparameters: {} as Observation['hyperparameters'],
    score,
    meetsConstraints: true,
  });

  it('fits on the largest budget with enough observations', () => {
    const low = Array.from({ length: 9 }, (_, i) => obs(i, 1));
    const mid = Array.from({ length: 3 }, (_, i) => obs(i, 3));
    expect(fittingSet(low.concat(mid), 6)?.map((o) => o.epochs)).toEqual(new Array(9).fill(1));
    expect(fittingSet(low.concat(mid), 3)?.every((o) => o.epochs === 3)).toBe(true);
    expect(fittingSet(low.slice(0, 5), 6)).toBeNull();
  });

  it('Hyperband + TPE keeps KerasTuner’s plan: 17 trials, 23 rungs at (9, 3, 1)', () => {
    const result = run(config('{type: hyperband, maxEpochs: 9, factor: 3}', 'sampler: {type: bohb}'));
    expect(result.trials).toBe(17);
    expect(result.rungs).toBe(23);
    expect(result.epochs).toBe(75);
  });
});

/** Runs `inner` and, after `after` decide calls, swaps in a fresh scheduler (a coordinator restart). */
function restartingScheduler(make: () => Scheduler, after: number): Scheduler {
  let current = make();
  let calls = 0;
  return {
    decide(state: StudyState, idle: number): Decision[] {
      if (++calls === after) current = make();
      // A restarted coordinator rebuilds its state from Postgres: no change journal survives.
      return current.decide({ trials: state.trials, elapsedMinutes: state.elapsedMinutes }, idle);
    },
    plannedRungs: () => current.plannedRungs(),
  };
}

describe('restart', () => {
  it.each([
    ['hyperband', '{type: hyperband, maxEpochs: 9, factor: 3}'],
    ['asha', '{type: asha, maxEpochs: 9, factor: 3, maxTrials: 40}'],
  ])('%s + TPE: a fresh scheduler mid-study proposes what the uninterrupted one does', (_n, scheduler) => {
    const cfg = config(scheduler, 'sampler: {type: tpe, startupTrials: 4}');
    const uninterrupted = run(cfg);
    for (const after of [5, 12, 20]) {
      const restarted = run(
        cfg,
        restartingScheduler(() => createScheduler(cfg), after),
      );
      expect(restarted.state.trials.map((t) => t.hpHash)).toEqual(
        uninterrupted.state.trials.map((t) => t.hpHash),
      );
    }
    // The model was used: some proposals differ from random search's.
    const random = run(config(scheduler));
    expect(uninterrupted.state.trials.map((t) => t.hpHash)).not.toEqual(
      random.state.trials.map((t) => t.hpHash),
    );
  });
});
