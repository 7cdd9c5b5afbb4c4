import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { evaluations, studySummary } from '@braintune/coordinator';
import {
  auditStudy,
  expectExactAudit,
  spawnWorker,
  startCoordinator,
  studyYaml,
  submit,
  useCluster,
  waitForState,
} from './harness.js';

/**
 * KerasTuner's Hyperband(max_epochs=9, factor=3, iterations=1): brackets of 9/3/1, 5/2 and 3
 * trials → 17 trials, 23 trial rungs; promoted trials warm-start, so 9·1 + 3·2 + 1·6 + 5·3 +
 * 2·6 + 3·9 = 75 epochs are trained.
 */
describe('Hyperband (9, 3, 1) with two worker processes', () => {
  const setup = useCluster('hb931', {}, async (c) => {
    await startCoordinator(c);
    // Debug logs: every 'epoch done' line is one epoch actually trained by a worker.
    spawnWorker(c, undefined, { LOG_LEVEL: 'debug' });
    spawnWorker(c, undefined, { LOG_LEVEL: 'debug' });
  });

  it("completes with KerasTuner's trial, rung and epoch counts, each rung recorded once", async () => {
    const c = setup.cluster;
    const studyId = await submit(
      c,
      studyYaml(c, '{type: hyperband, maxEpochs: 9, factor: 3, iterations: 1}'),
    );
    await waitForState(c, studyId, 'completed');
    expectExactAudit(await auditStudy(c, studyId), {
      trials: 17,
      rungs: 23,
      epochs: 75,
      // 9+5+3 trials: bracket 2 ends at 1, 3 or 9 epochs; bracket 1 at 3 or 9; bracket 0 at 9.
      finalEpochs: [
        ...Array(6).fill(1),
        ...Array(2).fill(3),
        ...Array(3).fill(3),
        9,
        ...Array(2).fill(9),
        ...Array(3).fill(9),
      ].sort((a, b) => a - b),
    });
    // Promoted trials warm-started: the workers trained exactly 75 epochs, none twice.
    const trained = [...c.logs.values()].flat().filter((l) => l.msg === 'epoch done');
    expect(trained).toHaveLength(75);
    expect(new Set(trained.map((l) => `${String(l.jobId)}@${String(l.epoch)}`)).size).toBe(75);
    // Each result was recorded exactly once (duplicates would be counted separately).
    expect(c.coordinator?.stats.recorded.result).toBe(23);
    const summary = await studySummary(c.database.db, studyId);
    expect(summary).toMatchObject({
      state: 'completed',
      trials: { total: 17, completed: 17, failed: 0, running: 0, queued: 0 },
      rungs: { planned: 23, completed: 23 },
    });
    expect(summary.best?.valMacroF1).toEqual(expect.any(Number));
    // Every rung ends with temperature scaling on validation, recorded with its evaluation.
    const calibrations = await c.database.db
      .select({ calibration: evaluations.calibration })
      .from(evaluations)
      .where(eq(evaluations.studyId, studyId));
    expect(calibrations).toHaveLength(23);
    for (const { calibration } of calibrations) expect(calibration?.temperature).toBeGreaterThan(0);
  }, 400_000);
});
