import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auditStudy,
  cli,
  createCluster,
  destroyCluster,
  exited,
  expectExactAudit,
  spawnWorker,
  studyYaml,
  submit,
  waitFor,
  waitForEpochs,
  waitForState,
  type TestCluster,
} from './harness.js';
import { freePort } from './services.js';

const HB331 = '{type: hyperband, maxEpochs: 3, factor: 3, iterations: 1}';

let cluster: TestCluster | null = null;
const coordinators: ChildProcess[] = [];
afterEach(async () => {
  for (const p of coordinators.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  if (cluster) await destroyCluster(cluster);
  cluster = null;
}, 120_000);

/** `braintune coordinator` as a child process, logging at info so its leadership lines are seen. */
async function spawnCoordinatorProcess(c: TestCluster): Promise<ChildProcess> {
  const child = cli(c, ['coordinator', '--port', String(await freePort())], { LOG_LEVEL: 'info' });
  coordinators.push(child);
  return child;
}

const logged = (c: TestCluster, child: ChildProcess, msg: string): boolean =>
  (c.logs.get(child.pid ?? -1) ?? []).some((l) => l.msg === msg);

describe('coordinator failover', () => {
  it('leader SIGKILLed mid-study: the standby takes over and completes it, nothing lost or doubled', async () => {
    const c = (cluster = await createCluster('failover', { perClass: 40 }));
    const leader = await spawnCoordinatorProcess(c);
    await waitFor('the first coordinator to lead', async () => logged(c, leader, 'coordinator started'));
    const standby = await spawnCoordinatorProcess(c);
    await waitFor('the second coordinator to stand by', async () =>
      logged(c, standby, 'another coordinator leads this database; standing by'),
    );
    spawnWorker(c);
    spawnWorker(c);
    const studyId = await submit(c, studyYaml(c, HB331));
    await waitForEpochs(c, studyId, 3);
    expect(logged(c, standby, 'coordinator started')).toBe(false);

    leader.kill('SIGKILL');
    await exited(leader);
    // Postgres ends the killed leader's session and with it the advisory lock: the standby
    // acquires it, reconciles against Redis and records the events that waited in the queue.
    await waitFor('the standby to take over', async () => logged(c, standby, 'coordinator started'));
    await waitForState(c, studyId, 'completed');
    expectExactAudit(await auditStudy(c, studyId), {
      trials: 5,
      rungs: 6,
      epochs: 11,
      finalEpochs: [1, 1, 3, 3, 3],
    });
    expect(standby.exitCode).toBeNull();
  }, 300_000);
});
