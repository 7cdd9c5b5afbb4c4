import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auditStudy,
  createCluster,
  destroyCluster,
  expectExactAudit,
  spawnWorker,
  startCoordinator,
  studyYaml,
  submit,
  waitForEpochs,
  waitForState,
  type StudyAudit,
  type TestCluster,
} from './harness.js';
import {
  startPrivatePostgres,
  startPrivateRedis,
  type PrivatePostgres,
  type PrivateRedis,
} from './services.js';

/**
 * Services failing under a running study, on private Postgres/Redis servers (the shared ones
 * serve every other test). Each study is Hyperband(3,3,1): 5 trials, 6 rungs, 11 epochs, and
 * must end with exactly those counts whatever broke.
 */
const HB331 = '{type: hyperband, maxEpochs: 3, factor: 3, iterations: 1}';
const expectExactHb331 = (audit: StudyAudit): void =>
  expectExactAudit(audit, { trials: 5, rungs: 6, epochs: 11, finalEpochs: [1, 1, 3, 3, 3] });

let cluster: TestCluster | null = null;
let postgres: PrivatePostgres | null = null;
let redis: PrivateRedis | null = null;
afterEach(async () => {
  for (const w of cluster?.workers ?? []) w.kill('SIGKILL');
  if (cluster) await destroyCluster(cluster).catch(() => undefined);
  cluster = null;
  postgres?.destroy();
  postgres = null;
  await redis?.destroy();
  redis = null;
}, 300_000);

/** Terminates every session of the cluster's database except the asking one. */
async function terminateSessions(adminUrl: string, databaseUrl: string): Promise<number> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const name = new URL(databaseUrl).pathname.slice(1);
  const res = await admin.query<{ ok: boolean }>(
    'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [name],
  );
  await admin.end();
  return res.rows.filter((r) => r.ok).length;
}

describe('services failing mid-study (private instances)', () => {
  it('Postgres sessions killed while results are recorded, then Postgres crashed and restarted: nothing lost or doubled', async () => {
    postgres = await startPrivatePostgres();
    const c = (cluster = await createCluster('pgkill', { adminUrl: postgres.adminUrl, perClass: 40 }));
    const coordinator = await startCoordinator(c);
    spawnWorker(c);
    spawnWorker(c);
    const studyId = await submit(c, studyYaml(c, HB331));
    await waitForEpochs(c, studyId, 2);
    // Kill the coordinator's connections (pool, LISTEN, leadership) while events flow.
    expect(await terminateSessions(postgres.adminUrl, c.databaseUrl)).toBeGreaterThan(0);
    await waitForEpochs(c, studyId, 5);
    expect(await terminateSessions(postgres.adminUrl, c.databaseUrl)).toBeGreaterThan(0);
    await waitForEpochs(c, studyId, 7);
    // A crash (immediate stop: no shutdown checkpoint) and a restart on the same data.
    await postgres.restart();
    await waitForState(c, studyId, 'completed');
    expectExactHb331(await auditStudy(c, studyId));
    expect(coordinator.stats.recorded.result).toBeGreaterThanOrEqual(6);
  }, 300_000);

  it('a Redis restart that loses every key: reconciliation re-queues the open rungs once', async () => {
    redis = await startPrivateRedis();
    const c = (cluster = await createCluster('redisrestart', { redisUrl: redis.url, perClass: 40 }));
    const coordinator = await startCoordinator(c);
    spawnWorker(c);
    spawnWorker(c);
    const studyId = await submit(c, studyYaml(c, HB331));
    await waitForEpochs(c, studyId, 3);
    await redis.restartEmpty();
    await waitForState(c, studyId, 'completed');
    expectExactHb331(await auditStudy(c, studyId));
    expect(coordinator.stats.requeued).toBeGreaterThan(0);
  }, 300_000);
});
