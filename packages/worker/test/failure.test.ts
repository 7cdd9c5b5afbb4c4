import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { studySummary, trialRungs, trials } from '@braintune/coordinator';
import { spawnWorker, startCoordinator, submit, useCluster, waitForState } from './harness.js';

describe('a trial whose training fails', () => {
  const setup = useCluster('failure', { perClass: 12 }, async (c) => {
    await startCoordinator(c);
    spawnWorker(c);
  });

  it('is retried, then recorded as failed with its error, and the study still ends', async () => {
    const c = setup.cluster;
    // Five 2×2 poolings cannot fit a 16 px input: building the model throws on every attempt.
    const studyId = await submit(
      c,
      `name: failing
dataset: {path: ${JSON.stringify(c.dataDir)}, imageSize: 16, valFraction: 0.25}
searchSpace:
  learningRate: {type: float, min: 0.001, max: 0.01, sampling: log}
  convBlocks: 5
  baseFilters: 4
scheduler: {type: random, epochs: 1, maxTrials: 2}
`,
    );
    await waitForState(c, studyId, 'completed', 120_000);
    const rows = await c.database.db.select().from(trials).where(eq(trials.studyId, studyId));
    expect(rows).toHaveLength(2);
    for (const t of rows) {
      expect(t.status).toBe('failed');
      expect(t.error).toEqual(expect.any(String));
    }
    const rungs = await c.database.db.select().from(trialRungs).where(eq(trialRungs.studyId, studyId));
    expect(rungs.map((r) => r.status)).toEqual(['failed', 'failed']);
    expect(Math.max(...rungs.map((r) => r.attempts))).toBe(3);
    const summary = await studySummary(c.database.db, studyId);
    expect(summary.trials).toMatchObject({ total: 2, failed: 2, completed: 0 });
    expect(summary.best).toBeNull();
  }, 180_000);
});
