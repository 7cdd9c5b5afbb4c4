import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { studies } from '@braintune/coordinator';
import { runCli, spawnCoordinator, spawnWorker, useCluster, waitFor } from './harness.js';

/**
 * A search space with every parameter fixed holds one configuration, while Hyperband (3, 3)
 * plans 5 trials: `submit` warns before anything trains, the study ends after one trial, and
 * why is stored with the study and shown by `status`.
 */
describe('a search space smaller than the plan', () => {
  const port = 23_000 + Math.floor(Math.random() * 2000);
  const setup = useCluster('exhausted', { perClass: 8 }, (c) => {
    spawnCoordinator(c, port);
    spawnWorker(c);
  });

  it('warns at submission, stores why the study ended early and shows it', { timeout: 300_000 }, async () => {
    const c = setup.cluster;
    const env = { BRAINTUNE_URL: `http://127.0.0.1:${port}` };
    await waitFor(
      'the API',
      async () => (await fetch(`${env.BRAINTUNE_URL}/api/workers`).catch(() => null))?.ok,
    );
    const file = path.join(path.dirname(c.dataDir), 'fixed.yaml');
    await writeFile(
      file,
      `name: all-fixed
dataset: {path: ${JSON.stringify(c.dataDir)}, imageSize: 16, valFraction: 0.25}
searchSpace: {learningRate: 0.01, baseFilters: 4, convBlocks: 2, denseUnits: 8, dense2Units: 0, batchSize: 16}
scheduler: {type: hyperband, maxEpochs: 3, factor: 3}
seed: 1
`,
    );
    const submitted = await runCli(c, ['submit', file, '--wait'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const expected = 'the search space has only 1 distinct configuration; Hyperband planned 5';
    expect(submitted.stderr).toContain(
      'warning: the search space has only 1 distinct configuration but Hyperband plans 5: at most 1 trial will run',
    );
    expect(submitted.stdout).toContain(`ended early: ${expected}`);
    const { studyId, state } = JSON.parse(submitted.lastLine) as { studyId: string; state: string };
    expect(state).toBe('completed');

    const [row] = await c.database.db.select().from(studies).where(eq(studies.id, studyId));
    expect(row?.endReason).toBe(expected);
    const status = await runCli(c, ['status', studyId], env);
    expect(status.stdout).toContain(`ended early: ${expected}`);
    expect(JSON.parse(status.lastLine)).toMatchObject({ endReason: expected, trials: { total: 1 } });
  });
});
