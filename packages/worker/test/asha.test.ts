import { asc, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { trialRungs } from '@braintune/coordinator';
import {
  auditStudy,
  spawnWorker,
  startCoordinator,
  studyYaml,
  submit,
  useCluster,
  waitFor,
  waitForState,
} from './harness.js';

/** Length of the union of [start, end] intervals. */
function covered(intervals: [number, number][]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [curStart, curEnd] = sorted[0] ?? [0, 0];
  for (const [s, e] of sorted.slice(1)) {
    if (s > curEnd) {
      total += curEnd - curStart;
      [curStart, curEnd] = [s, e];
    } else curEnd = Math.max(curEnd, e);
  }
  return total + (curEnd - curStart);
}

describe('ASHA with two worker processes', () => {
  const setup = useCluster('asha', { perClass: 100 }, async (c) => {
    await startCoordinator(c);
    spawnWorker(c);
    spawnWorker(c);
    // Both workers registered, so the coordinator knows its capacity from the start.
    await waitFor(
      'two workers online',
      async () => (await c.coordinator?.refreshWorkers(), c.coordinator?.onlineCapacity() ?? 0) >= 2,
    );
  });

  it('promotes without barriers and keeps both workers busy (prints the idle fraction)', async () => {
    const c = setup.cluster;
    const maxTrials = 20;
    const studyId = await submit(
      c,
      studyYaml(c, `{type: asha, maxEpochs: 9, minEpochs: 1, factor: 3, maxTrials: ${maxTrials}}`),
    );
    await waitForState(c, studyId, 'completed');
    const audit = await auditStudy(c, studyId);
    expect(audit.trials).toBe(maxTrials);
    expect(audit.completedRungs).toBe(audit.rungs);
    expect(audit.evaluations).toBe(audit.rungs);
    expect(audit.gappyTrials).toEqual([]);
    // Rungs end at 1, 3 and 9 epochs; some trials were promoted.
    expect(new Set(audit.finalEpochs)).toContain(1);
    expect(audit.rungsPerTrial.some((n) => n > 1)).toBe(true);

    const rungs = await c.database.db
      .select()
      .from(trialRungs)
      .where(eq(trialRungs.studyId, studyId))
      .orderBy(asc(trialRungs.startedAt));
    const byWorker = new Map<string, [number, number][]>();
    for (const r of rungs) {
      if (!r.workerId || !r.startedAt || !r.finishedAt) continue;
      const list = byWorker.get(r.workerId) ?? [];
      list.push([r.startedAt.getTime(), r.finishedAt.getTime()]);
      byWorker.set(r.workerId, list);
    }
    expect(byWorker.size).toBe(2);
    const start = Math.min(...rungs.map((r) => r.startedAt?.getTime() ?? Infinity));
    const end = Math.max(...rungs.map((r) => r.finishedAt?.getTime() ?? 0));
    const busy = [...byWorker.values()].reduce((n, list) => n + covered(list), 0);
    const idleFraction = 1 - busy / (byWorker.size * (end - start));
    console.log(
      JSON.stringify({
        asha: {
          trials: audit.trials,
          rungs: audit.rungs,
          epochs: audit.epochsTrained,
          wallSeconds: (end - start) / 1000,
          workers: byWorker.size,
          idleFraction: Number(idleFraction.toFixed(4)),
        },
      }),
    );
    expect(idleFraction).toBeGreaterThanOrEqual(0);
  }, 300_000);
});
