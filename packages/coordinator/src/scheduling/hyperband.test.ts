import { describe, expect, it } from 'vitest';
import { parseStudyConfig, type StudyConfig } from '../study/config.js';
import { createScheduler } from './create-scheduler.js';
import {
  hyperbandBrackets,
  hyperbandNumBrackets,
  hyperbandPlan,
  hyperbandSize,
  hyperbandEpochs,
} from './hyperband-plan.js';
import { HyperbandScheduler } from './hyperband.js';
import { defaultOutcome, InMemoryStudy, simulateStudy, type SimulationResult } from './simulate.js';
import type { Decision, TrialRecord } from './types.js';

const CONTINUOUS = `{learningRate: {type: float, min: 0.0001, max: 0.01, sampling: log}, convDropout: {type: float, min: 0, max: 0.5}}`;

function config(scheduler: string, extra = '', searchSpace = CONTINUOUS): StudyConfig {
  return parseStudyConfig(
    `name: t\ndataset: {path: /d}\nsearchSpace: ${searchSpace}\nscheduler: ${scheduler}\n${extra}`,
  );
}

/** [bracket, round, trials, fromEpoch, toEpoch] rows: the tables in docs/hyperband.md (KerasTuner's numbers). */
const TABLE_9_3: [number, number, number, number, number][] = [
  [2, 0, 9, 0, 1],
  [2, 1, 3, 1, 3],
  [2, 2, 1, 3, 9],
  [1, 0, 5, 0, 3],
  [1, 1, 2, 3, 9],
  [0, 0, 3, 0, 9],
];
const TABLE_27_3: [number, number, number, number, number][] = [
  [3, 0, 27, 0, 1],
  [3, 1, 9, 1, 3],
  [3, 2, 3, 3, 9],
  [3, 3, 1, 9, 27],
  [2, 0, 12, 0, 3],
  [2, 1, 4, 3, 9],
  [2, 2, 2, 9, 27],
  [1, 0, 6, 0, 9],
  [1, 1, 2, 9, 27],
  [0, 0, 4, 0, 27],
];

function planRows(maxEpochs: number, factor: number) {
  return hyperbandBrackets(maxEpochs, factor).flatMap((b) =>
    b.rounds.map((r) => [b.bracket, r.round, r.trials, r.fromEpoch, r.toEpoch]),
  );
}

/** The same table, counted from what a simulated study actually ran. */
function observedRows(result: SimulationResult) {
  const counts = new Map<string, { trials: number; from: Set<number>; to: Set<number> }>();
  for (const trial of result.state.trials) {
    for (const rung of trial.rungs) {
      const key = `${trial.bracket}:${rung.rung}`;
      const entry = counts.get(key) ?? { trials: 0, from: new Set(), to: new Set() };
      entry.trials++;
      entry.from.add(rung.fromEpoch);
      entry.to.add(rung.toEpoch);
      counts.set(key, entry);
    }
  }
  return [...counts.entries()]
    .map(([key, e]) => {
      const [bracket, round] = key.split(':').map(Number) as [number, number];
      expect(e.from.size).toBe(1);
      expect(e.to.size).toBe(1);
      return [bracket, round, e.trials, [...e.from][0]!, [...e.to][0]!];
    })
    .sort((a, b) => b[0]! - a[0]! || a[1]! - b[1]!);
}

describe('Hyperband bracket maths (KerasTuner HyperbandOracle)', () => {
  it('gives the documented tables for (9, 3) and (27, 3)', () => {
    expect(planRows(9, 3)).toEqual(TABLE_9_3);
    expect(planRows(27, 3)).toEqual(TABLE_27_3);
    expect(hyperbandPlan(9, 3, 1)).toMatchObject({ trials: 17, rungs: 23, epochs: 75 });
    expect(hyperbandPlan(27, 3, 1)).toMatchObject({ trials: 49, rungs: 70, epochs: 375 });
    expect(hyperbandPlan(9, 3, 2)).toMatchObject({ trials: 34, rungs: 46, epochs: 150 });
  });

  it("matches KerasTuner's own unit test (max_epochs 8, factor 2) and non-powers", () => {
    expect(hyperbandNumBrackets(8, 2)).toBe(4);
    expect(hyperbandSize(8, 2, 3, 0)).toBe(8);
    expect(hyperbandEpochs(8, 2, 3, 0)).toBe(1);
    expect(hyperbandSize(8, 2, 3, 3)).toBe(1);
    expect(hyperbandEpochs(8, 2, 3, 3)).toBe(8);
    expect(hyperbandSize(8, 2, 0, 0)).toBe(4);
    expect(hyperbandEpochs(8, 2, 0, 0)).toBe(8);
    expect(hyperbandSize(2, 2, 1, 0)).toBe(2);
    // Python's math.log(81, 3) is exactly 4.0 while JS's Math.log ratio is 4.000000000000001.
    expect(hyperbandPlan(81, 3)).toMatchObject({ trials: 143, rungs: 211, epochs: 1767 });
    expect(planRows(10, 3)).toEqual([
      [2, 0, 12, 0, 2],
      [2, 1, 4, 2, 4],
      [2, 2, 2, 4, 10],
      [1, 0, 6, 0, 4],
      [1, 1, 2, 4, 10],
      [0, 0, 4, 0, 10],
    ]);
  });
});

describe('HyperbandScheduler', () => {
  it.each([1, 2, 5, 30])(
    'runs (9, 3, 1) with %i workers exactly as KerasTuner: 17 trials, 23 rungs, 75 epochs',
    (workers) => {
      const scheduler = createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3, iterations: 1}'));
      expect(scheduler.plannedRungs()).toBe(23);
      expect(scheduler.plannedTrials?.()).toBe(17);
      const result = simulateStudy({ scheduler, workers });
      expect(result.completion).toEqual({ kind: 'complete-study', reason: 'plan' });
      expect(result).toMatchObject({ trials: 17, rungs: 23, epochs: 75 });
      expect(observedRows(result)).toEqual(TABLE_9_3);
      // Every trial ends stopped or completed; the winners of each bracket completed.
      expect(result.state.trials.filter((t) => t.status === 'completed')).toHaveLength(1 + 2 + 3);
      expect(result.state.trials.every((t) => t.status === 'completed' || t.status === 'stopped')).toBe(true);
    },
  );

  it('runs (27, 3, 1) with 4 workers exactly as KerasTuner: 49 trials, 70 rungs', () => {
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 27, factor: 3}')),
      workers: 4,
    });
    expect(result).toMatchObject({ completed: true, trials: 49, rungs: 70, epochs: 375 });
    expect(observedRows(result)).toEqual(TABLE_27_3);
  });

  it('repeats the brackets per iteration', () => {
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3, iterations: 2}')),
      workers: 3,
    });
    expect(result).toMatchObject({ completed: true, trials: 34, rungs: 46, epochs: 150 });
    expect(new Set(result.state.trials.map((t) => t.iteration))).toEqual(new Set([0, 1]));
  });

  it("warm-starts every promotion from the parent rung's last epoch and promotes the best of each round", () => {
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3}')),
      workers: 2,
    });
    for (const trial of result.state.trials) {
      trial.rungs.forEach((rung, i) => {
        expect(rung.rung).toBe(i);
        expect(rung.fromEpoch).toBe(i === 0 ? 0 : trial.rungs[i - 1]!.toEpoch);
      });
    }
    // Bracket 2: the 3 promoted out of round 0 are the 3 best of its 9 trials.
    const bracket2 = result.state.trials.filter((t) => t.bracket === 2);
    const best3 = [...bracket2]
      .sort((a, b) => b.rungs[0]!.score! - a.rungs[0]!.score!)
      .slice(0, 3)
      .map((t) => t.id);
    expect(
      bracket2
        .filter((t) => t.rungs.length > 1)
        .map((t) => t.id)
        .sort(),
    ).toEqual(best3.sort());
  });

  it('fills round 0 of several brackets at once like KerasTuner (max_epochs 4, factor 2: 10 parallel trials)', () => {
    const scheduler = createScheduler(config('{type: hyperband, maxEpochs: 4, factor: 2}'));
    const study = new InMemoryStudy();
    const first = scheduler.decide(study.state, 11);
    expect(first.filter((d) => d.kind === 'create-trial')).toHaveLength(10);
    expect(first).toHaveLength(10);
    first.forEach((d) => study.apply(d));
    expect(new Set(study.state.trials.map((t) => t.bracket))).toEqual(new Set([2, 1, 0]));
    // Round 1 cannot start before round 0 finished: nothing to do now.
    expect(scheduler.decide(study.state, 5)).toEqual([]);
    const finishAll = () => {
      for (const t of study.state.trials)
        for (const r of t.rungs)
          if (r.status === 'queued') Object.assign(r, { status: 'completed', ...defaultOutcome(t, r) });
    };
    finishAll();
    const second = scheduler.decide(study.state, 11);
    expect(second.filter((d) => d.kind === 'promote')).toHaveLength(4);
    // The 3 bracket-0 trials finished their only round; the losers of round 0 stop.
    expect(second.filter((d) => d.kind === 'stop-trial' && d.reason === 'finished')).toHaveLength(3);
    expect(second.filter((d) => d.kind === 'stop-trial' && d.reason === 'lost')).toHaveLength(3);
    second.forEach((d) => study.apply(d));
    finishAll();
    const third = scheduler.decide(study.state, 11);
    expect(third.filter((d) => d.kind === 'promote')).toHaveLength(1);
    third.forEach((d) => study.apply(d));
    finishAll();
    const last = scheduler.decide(study.state, 11);
    expect(last.at(-1)).toEqual({ kind: 'complete-study', reason: 'plan' });
  });

  it('is a deterministic function of (config, state) and proposes the same trials for the same seed', () => {
    const cfg = config('{type: hyperband, maxEpochs: 9, factor: 3}', 'seed: 11');
    const calls: { state: string; decisions: Decision[] }[] = [];
    const run = simulateStudy({
      scheduler: createScheduler(cfg),
      workers: 3,
      onDecide: () => undefined,
    });
    const replay = simulateStudy({ scheduler: createScheduler(cfg), workers: 3 });
    expect(replay.state.trials.map((t) => t.hpHash)).toEqual(run.state.trials.map((t) => t.hpHash));
    const other = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3}', 'seed: 12')),
      workers: 3,
    });
    expect(other.state.trials.map((t) => t.hpHash)).not.toEqual(run.state.trials.map((t) => t.hpHash));
    // Same state twice -> same decisions (what makes recovery after a crash safe).
    const scheduler = new HyperbandScheduler({
      config: { type: 'hyperband', maxEpochs: 9, factor: 3, iterations: 1 },
      space: cfg.searchSpace,
      seed: 11,
      budget: cfg.budget,
    });
    const study = new InMemoryStudy();
    for (let step = 0; step < 40 && !study.completion; step++) {
      const snapshot = JSON.stringify(study.state);
      const decisions = scheduler.decide(study.state, 2);
      expect(JSON.stringify(study.state)).toBe(snapshot); // decide never mutates its input
      expect(scheduler.decide(JSON.parse(snapshot), 2)).toEqual(decisions);
      calls.push({ state: snapshot, decisions });
      decisions.forEach((d) => study.apply(d));
      const running = study.state.trials.flatMap((t) =>
        t.rungs.filter((r) => r.status === 'queued').map((r) => ({ t, r })),
      );
      for (const { t, r } of running.slice(0, 2))
        Object.assign(r, { status: 'completed', ...defaultOutcome(t, r) });
    }
    expect(study.completion).not.toBeNull();
    expect(calls.length).toBeGreaterThan(10);
  });

  it('never proposes the same set twice, even with many brackets sampling at once, and reports exhaustion', () => {
    // 2 × 3 × 2 = 12 points for a plan of 17 configurations, 30 workers sampling 3 brackets at once.
    const tiny =
      '{"augmentation.flip": {type: boolean}, optimizer: [adam, sgd, rmsprop], pooling: [flatten, gap]}';
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3}', '', tiny)),
      workers: 30,
    });
    expect(result.completion).toEqual({ kind: 'complete-study', reason: 'space-exhausted' });
    expect(result.trials).toBe(12);
    expect(new Set(result.state.trials.map((t) => t.hpHash)).size).toBe(12);
    // A larger discrete space gives the full plan without duplicates (InMemoryStudy throws on one).
    const small =
      '{optimizer: [adam, sgd, rmsprop], pooling: [flatten, gap], batchSize: {type: int, min: 16, max: 64, step: 16}}';
    const full = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3}', '', small)),
      workers: 30,
    });
    expect(full).toMatchObject({ completed: true, trials: 17, rungs: 23 });
  });

  it('drops failed rungs from promotion and still completes', () => {
    const failing = (trial: TrialRecord) => trial.index % 4 === 1;
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3}')),
      workers: 2,
      outcome: (trial, rung) => (failing(trial) ? { score: null } : defaultOutcome(trial, rung)),
    });
    expect(result.completion?.reason).toBe('plan');
    expect(result.trials).toBe(17);
    expect(result.failedRungs).toBeGreaterThan(0);
    for (const trial of result.state.trials.filter(failing)) {
      expect(trial.rungs).toHaveLength(1);
      expect(trial.status).toBe('failed');
    }
  });

  it('fills fewer promotions when a whole round fails', () => {
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3}')),
      workers: 2,
      outcome: (trial, rung) =>
        trial.bracket === 1 && rung.rung === 0 ? { score: null } : defaultOutcome(trial, rung),
    });
    expect(result.completed).toBe(true);
    expect(result.state.trials.filter((t) => t.bracket === 1).every((t) => t.rungs.length === 1)).toBe(true);
    expect(result.rungs).toBe(23 - 2);
  });

  it('ranks a round missing a constraint below every round meeting them', () => {
    // The highest raw scores miss the constraint: they must not be promoted while others meet it.
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: hyperband, maxEpochs: 9, factor: 3}')),
      workers: 1,
      outcome: (trial, rung) => ({
        score: trial.index % 2 === 0 ? 10 + trial.index : trial.index / 100 + rung.toEpoch,
        meetsConstraints: trial.index % 2 === 1,
      }),
    });
    const bracket2 = result.state.trials.filter((t) => t.bracket === 2);
    const promoted = bracket2.filter((t) => t.rungs.length > 1);
    expect(promoted).toHaveLength(3);
    expect(promoted.every((t) => t.index % 2 === 1)).toBe(true);
  });

  it('respects budget.maxTrials: no new configurations after the limit, promotions continue', () => {
    const result = simulateStudy({
      scheduler: createScheduler(
        config('{type: hyperband, maxEpochs: 9, factor: 3}', 'budget: {maxTrials: 6}'),
      ),
      workers: 2,
    });
    expect(result.completion?.reason).toBe('max-trials');
    expect(result.trials).toBe(6);
    // Bracket 2 got 6 of its 9 configurations; it still promoted its top 3 then 1.
    expect(result.state.trials.filter((t) => t.rungs.length === 2)).toHaveLength(2);
    expect(result.state.trials.filter((t) => t.rungs.length === 3)).toHaveLength(1);
  });

  it('respects budget.maxWallClockMinutes: no new rungs after the limit, running ones finish', () => {
    const starts: number[] = [];
    const result = simulateStudy({
      scheduler: createScheduler(
        config('{type: hyperband, maxEpochs: 9, factor: 3}', 'budget: {maxWallClockMinutes: 10}'),
      ),
      workers: 2,
      onDecide: (call) => {
        if (call.decisions.some((d) => d.kind === 'create-trial' || d.kind === 'promote'))
          starts.push(call.time);
      },
    });
    expect(result.completion?.reason).toBe('wall-clock');
    expect(Math.max(...starts)).toBeLessThan(10);
    expect(result.trials).toBeLessThan(17);
    expect(result.state.trials.every((t) => t.status !== 'running')).toBe(true);
  });
});
