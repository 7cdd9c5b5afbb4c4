import { and, eq, inArray } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { cancelStudy, trialRungs, trials } from '@braintune/coordinator';
import {
  spawnWorker,
  startCoordinator,
  studyYaml,
  submit,
  useCluster,
  waitFor,
  waitForEpochs,
} from './harness.js';

describe('cancelling a running study', () => {
  // More images → longer epochs, so the 9-epoch rung is surely still running when cancelled.
  const setup = useCluster('cancel', { perClass: 150 }, async (c) => {
    await startCoordinator(c);
    spawnWorker(c);
  });

  it('removes waiting rungs and stops the running one after its epoch', async () => {
    const c = setup.cluster;
    // One worker: one rung runs, the prefetch waits in the queue.
    const studyId = await submit(c, studyYaml(c, '{type: random, epochs: 9, maxTrials: 6}'));
    await waitForEpochs(c, studyId, 1);
    await cancelStudy(c.database.db, studyId);
    const open = () =>
      c.database.db
        .select({ jobId: trialRungs.jobId })
        .from(trialRungs)
        .where(and(eq(trialRungs.studyId, studyId), inArray(trialRungs.status, ['queued', 'running'])));
    await waitFor('no open rungs', async () => (await open()).length === 0, 60_000);

    const rungs = await c.database.db.select().from(trialRungs).where(eq(trialRungs.studyId, studyId));
    const ts = await c.database.db.select().from(trials).where(eq(trials.studyId, studyId));
    // The rung that was training stopped early (after an epoch), the waiting ones never ran.
    const started = rungs.filter((r) => r.startedAt !== null);
    expect(started).toHaveLength(1);
    expect(started[0]?.status).toBe('cancelled');
    expect(ts.find((t) => t.id === started[0]?.trialId)?.epochsDone).toBeLessThan(9);
    expect(rungs.filter((r) => r.startedAt === null).every((r) => r.status === 'cancelled')).toBe(true);
    expect(rungs.length).toBeGreaterThan(1);
    expect(ts.every((t) => t.status === 'cancelled')).toBe(true);
    const counts = await c.coordinator!.trialQueue.counts();
    expect(
      (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0) + (counts.active ?? 0),
    ).toBe(0);
  }, 120_000);
});
