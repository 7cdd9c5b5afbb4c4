import { describe, expect, it } from 'vitest';
import { parseStudyConfig, type StudyConfig } from '../study/config.js';
import { ashaRungEpochs } from './asha.js';
import { createScheduler } from './create-scheduler.js';
import { defaultOutcome, InMemoryStudy, simulateStudy, type DecideCall } from './simulate.js';

function config(scheduler: string, extra = ''): StudyConfig {
  return parseStudyConfig(
    `name: t\ndataset: {path: /d}\nsearchSpace: {learningRate: {type: float, min: 0.0001, max: 0.01, sampling: log}}\nscheduler: ${scheduler}\n${extra}`,
  );
}

const starts = (call: DecideCall) =>
  call.decisions.filter((d) => d.kind === 'create-trial' || d.kind === 'promote').length;

describe('AshaScheduler', () => {
  it('places rungs at minEpochs·factor^k ≤ maxEpochs', () => {
    expect(ashaRungEpochs(1, 9, 3)).toEqual([1, 3, 9]);
    expect(ashaRungEpochs(1, 10, 3)).toEqual([1, 3, 9]);
    expect(ashaRungEpochs(2, 27, 2)).toEqual([2, 4, 8, 16]);
  });

  it('with 2 slots never leaves a slot empty while trials remain to start (no barrier), and respects maxTrials', () => {
    const calls: DecideCall[] = [];
    let promotionsChecked = 0;
    const result = simulateStudy({
      scheduler: createScheduler(
        config('{type: asha, maxEpochs: 9, minEpochs: 1, factor: 3, maxTrials: 40}'),
      ),
      workers: 2,
      // Uneven durations, so trials finish out of order as on real workers.
      epochMinutes: (trial) => 1 + (trial.index % 3),
      onDecide: (call) => {
        calls.push(call);
        for (const decision of call.decisions) {
          if (decision.kind !== 'promote') continue;
          const k = decision.rung - 1;
          const finished = call.state.trials
            .map((t) => ({ t, r: t.rungs[k] }))
            .filter((e) => e.r !== undefined && (e.r.status === 'completed' || e.r.status === 'failed'));
          const top = finished
            .filter((e) => e.r!.score !== null)
            .sort((a, b) => b.r!.score! - a.r!.score!)
            .slice(0, Math.floor(finished.length / 3))
            .map((e) => e.t.id);
          expect(top).toContain(decision.trialId);
          promotionsChecked++;
        }
      },
    });
    expect(result.completion).toEqual({ kind: 'complete-study', reason: 'plan' });
    expect(result.trials).toBe(40);
    for (const call of calls) {
      if (call.trialsBefore < 40) expect(starts(call)).toBe(call.idleSlots);
    }
    // Promotions happened at both rungs, each time of a trial in the top 1/3 of its rung's results.
    expect(promotionsChecked).toBeGreaterThan(0);
    expect(result.state.trials.some((t) => t.rungs.length === 3)).toBe(true);
    // Workers only idle at the tail, once no new trial may start.
    const lastCreate = Math.max(
      ...calls.filter((c) => c.decisions.some((d) => d.kind === 'create-trial')).map((c) => c.time),
    );
    expect(
      calls.filter((c) => c.time <= lastCreate).every((c) => c.idleSlots === 0 || starts(c) === c.idleSlots),
    ).toBe(true);
    for (const trial of result.state.trials) {
      trial.rungs.forEach((rung, i) =>
        expect(rung.fromEpoch).toBe(i === 0 ? 0 : trial.rungs[i - 1]!.toEpoch),
      );
    }
    expect(result.state.trials.every((t) => t.status === 'completed' || t.status === 'stopped')).toBe(true);
  });

  it('promotes as soon as a trial is in the top 1/factor of its rung, highest rung first', () => {
    const scheduler = createScheduler(config('{type: asha, maxEpochs: 9, factor: 3, maxTrials: 100}'));
    const study = new InMemoryStudy();
    scheduler.decide(study.state, 3).forEach((d) => study.apply(d));
    expect(study.state.trials).toHaveLength(3);
    const scores = [0.2, 0.9, 0.5];
    study.state.trials.forEach((t, i) =>
      Object.assign(t.rungs[0]!, { status: 'completed', score: scores[i], meetsConstraints: true }),
    );
    const next = scheduler.decide(study.state, 2);
    // Top 1/3 of 3 results = the 0.9 trial goes up at once; the second slot starts a new trial.
    expect(next[0]).toEqual({ kind: 'promote', trialId: 't1', rung: 1, fromEpoch: 1, toEpoch: 3 });
    expect(next[1]?.kind).toBe('create-trial');
    expect(next).toHaveLength(2);
  });

  it('never promotes a failed rung, and still completes', () => {
    const result = simulateStudy({
      scheduler: createScheduler(config('{type: asha, maxEpochs: 9, factor: 3, maxTrials: 30}')),
      workers: 2,
      outcome: (trial, rung) => (trial.index % 3 === 0 ? { score: null } : defaultOutcome(trial, rung)),
    });
    expect(result.completed).toBe(true);
    for (const trial of result.state.trials.filter((t) => t.index % 3 === 0)) {
      expect(trial.rungs).toHaveLength(1);
      expect(trial.status).toBe('failed');
    }
  });

  it('takes the smaller of scheduler.maxTrials and budget.maxTrials', () => {
    const result = simulateStudy({
      scheduler: createScheduler(
        config('{type: asha, maxEpochs: 9, maxTrials: 50}', 'budget: {maxTrials: 12}'),
      ),
      workers: 2,
    });
    expect(result.trials).toBe(12);
    expect(result.completion?.reason).toBe('max-trials');
  });
});

describe('RandomScheduler', () => {
  it('trains maxTrials configurations for the given epochs, filling every slot', () => {
    const scheduler = createScheduler(config('{type: random, epochs: 5, maxTrials: 7}'));
    expect(scheduler.plannedRungs()).toBe(7);
    const calls: DecideCall[] = [];
    const result = simulateStudy({ scheduler, workers: 3, onDecide: (c) => calls.push(c) });
    expect(result).toMatchObject({ completed: true, trials: 7, rungs: 7, epochs: 35 });
    expect(result.completion?.reason).toBe('plan');
    for (const call of calls)
      if (call.trialsBefore < 7) expect(starts(call)).toBe(Math.min(call.idleSlots, 7 - call.trialsBefore));
    expect(result.state.trials.every((t) => t.status === 'completed')).toBe(true);
  });
});
