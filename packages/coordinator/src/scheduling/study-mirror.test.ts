import { describe, expect, it } from 'vitest';
import { InMemoryStudy } from './simulate.js';
import { StudyMirror, type TrialIndex } from './study-mirror.js';
import type { Decision, TrialRecord } from './types.js';

/** Records what the mirror reports to a scheduler's index. */
class CountingIndex implements TrialIndex {
  readonly live = new Map<string, TrialRecord>();
  touched = 0;
  add(trial: TrialRecord): void {
    this.live.set(trial.id, trial);
    this.touched++;
  }
  remove(trial: TrialRecord): void {
    if (this.live.get(trial.id) === trial) this.live.delete(trial.id);
    this.touched++;
  }
  clear(): void {
    this.live.clear();
  }
}

function create(index: number): Decision {
  return {
    kind: 'create-trial',
    trial: {
      index,
      bracket: null,
      iteration: null,
      hyperparameters: {} as TrialRecord['hyperparameters'],
      hpHash: `h${index}`,
      firstRung: { rung: 0, fromEpoch: 0, toEpoch: 1 },
    },
  };
}

describe('StudyMirror', () => {
  it('follows the journal when there is one, diffs without it, rebuilds when trials move', () => {
    const study = new InMemoryStudy({ trackChanges: true });
    for (let i = 0; i < 50; i++) study.apply(create(i));
    const index = new CountingIndex();
    const mirror = new StudyMirror(index);
    mirror.sync(study.state);
    expect(mirror.lastSync).toBe('diff'); // first sight of this journal: nothing to follow yet
    expect(index.live.size).toBe(50);
    expect(mirror.activeRungs).toBe(50);

    const trial = study.state.trials[7]!;
    Object.assign(trial.rungs[0]!, { status: 'completed', score: 0.5, meetsConstraints: true });
    study.touch(trial.id);
    index.touched = 0;
    mirror.sync(study.state);
    expect(mirror.lastSync).toBe('journal');
    expect(index.touched).toBe(2); // only trial 7 was looked at again
    expect(mirror.activeRungs).toBe(49);

    // Without the journal the same change (undone) is still found, by comparing every trial.
    Object.assign(trial.rungs[0]!, { status: 'running', score: null, meetsConstraints: false });
    mirror.sync({ trials: study.state.trials, elapsedMinutes: 0 });
    expect(mirror.lastSync).toBe('diff');
    expect(mirror.activeRungs).toBe(50);

    mirror.sync({ trials: [...study.state.trials].reverse(), elapsedMinutes: 0 });
    expect(mirror.lastSync).toBe('rebuild');
    expect(index.live.size).toBe(50);
  });

  it("undoes a call's own proposals at the next sync", () => {
    const study = new InMemoryStudy();
    study.apply(create(0));
    const index = new CountingIndex();
    const mirror = new StudyMirror(index);
    mirror.sync(study.state);
    mirror.apply(create(1));
    expect(mirror.trialCount).toBe(2);
    expect(mirror.nextIndex).toBe(2);
    expect(mirror.triedHashes.has('h1')).toBe(true);
    mirror.sync(study.state); // the caller did not apply it
    expect(mirror.trialCount).toBe(1);
    expect(mirror.nextIndex).toBe(1);
    expect(mirror.triedHashes.has('h1')).toBe(false);
    expect([...index.live.keys()]).toEqual(['t0']);
  });
});
