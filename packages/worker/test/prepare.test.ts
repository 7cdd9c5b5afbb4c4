import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createRedis, studies } from '@braintune/coordinator';
import { PREPARE_QUEUE, prepareJobId, type PrepareResult } from '@braintune/protocol';
import { startWorker, type DatasetPreparer, type RungTrainer } from '../src/index.js';
import {
  makeTinyImages,
  spawnWorker,
  startCoordinator,
  studyYaml,
  submit,
  useCluster,
  waitFor,
  waitForState,
} from './harness.js';

/**
 * Data sets are prepared by workers: the coordinator only enqueues a prepare job and reads its
 * answer from Redis, so a study waits in `preparing` until a worker is there, and an answer
 * given while no coordinator runs is picked up by the next one.
 */
describe('dataset preparation as a worker job', () => {
  const setup = useCluster('prepare', { perClass: 12 });

  it('waits for a worker, survives a coordinator restart, and fails a broken data set clearly', async () => {
    const c = setup.cluster;
    const broken = path.join(path.dirname(c.dataDir), 'broken');
    await makeTinyImages(broken, 4);
    await mkdir(path.join(broken, 'empty_class'));
    const first = await startCoordinator(c);
    const good = await submit(c, studyYaml(c, '{type: random, epochs: 1, maxTrials: 1}'));
    const bad = await submit(
      c,
      studyYaml(c, '{type: random, epochs: 1, maxTrials: 1}').replace(
        JSON.stringify(c.dataDir),
        JSON.stringify(broken),
      ),
    );

    // No worker yet: both jobs wait in the prepare queue, capped cluster-wide at 2 at once.
    const redis = createRedis(c.redisUrl);
    const queue = new Queue<unknown, PrepareResult>(PREPARE_QUEUE, { connection: redis, prefix: c.prefix });
    try {
      for (const id of [good, bad])
        await waitFor(`the prepare job of ${id}`, async () => (await queue.getJob(prepareJobId(id)))?.id);
      expect(await queue.getGlobalConcurrency()).toBe(2);
      expect(await queue.getJobCounts('active', 'completed')).toEqual({ active: 0, completed: 0 });

      // The coordinator goes away; a worker answers meanwhile; the next coordinator records the answers.
      await first.stop();
      c.coordinator = null;
      spawnWorker(c);
      for (const id of [good, bad])
        await waitFor(
          `the prepare job of ${id} to end`,
          async () => (await (await queue.getJob(prepareJobId(id)))?.getState()) === 'completed',
          180_000,
        );
      expect(await studyStateOf(good)).toBe('preparing');
      await startCoordinator(c);

      await waitForState(c, good, 'completed');
      const [row] = await c.database.db.select().from(studies).where(eq(studies.id, good));
      const job = await queue.getJob(prepareJobId(good));
      expect(row?.datasets?.map((d) => d.hash)).toEqual(
        job?.returnvalue.ok ? job.returnvalue.bundles.map((b) => b.dataset.hash) : [],
      );
      expect(row?.datasets?.[0]).toMatchObject({ imageSize: 16, classes: ['bright_bottom', 'bright_top'] });
      expect(row?.dataset).toEqual(row?.datasets?.[0]);

      const error = await waitFor('the broken study to fail', async () => {
        const [s] = await c.database.db.select().from(studies).where(eq(studies.id, bad));
        return s?.state === 'failed' ? s.error : null;
      });
      // As today: the folder is named by the path the study gave, and absolute paths are hidden.
      expect(error).toMatch(/^dataset preparation failed: class folder <path> is empty/);
      expect(error).not.toContain(tmpdir());
    } finally {
      await queue.close();
      redis.disconnect();
    }

    async function studyStateOf(id: string): Promise<string | undefined> {
      const [s] = await c.database.db
        .select({ state: studies.state })
        .from(studies)
        .where(eq(studies.id, id));
      return s?.state;
    }
  }, 400_000);
});

describe('a preparation that keeps throwing', () => {
  const setup = useCluster('prepfail', { perClass: 4 });

  it('is tried 3 times, then fails the study with a message that shows no internals', async () => {
    const c = setup.cluster;
    await startCoordinator(c);
    let tries = 0;
    // Not a data set the user must fix (those are answers): an error of the preparing machine.
    const preparer: DatasetPreparer = {
      prepare: () => {
        tries++;
        return Promise.reject(new Error(`disk full writing ${c.artifactRoot}`));
      },
    };
    const trainer: RungTrainer = {
      init: () => Promise.resolve({ backend: 'none', device: 'none' }),
      run: () => Promise.reject(new Error('this worker only prepares')),
    };
    const worker = await startWorker({ redisUrl: c.redisUrl, prefix: c.prefix, trainer, preparer });
    try {
      const studyId = await submit(c, studyYaml(c, '{type: random, epochs: 1, maxTrials: 1}'));
      const error = await waitFor('the study to fail', async () => {
        const [s] = await c.database.db.select().from(studies).where(eq(studies.id, studyId));
        return s?.state === 'failed' ? s.error : null;
      });
      expect(error).toBe(
        'dataset preparation failed: internal error while reading the data set (see the worker log)',
      );
      expect(tries).toBe(3);
    } finally {
      await worker.close();
    }
  }, 120_000);
});
