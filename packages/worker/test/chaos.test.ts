import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auditStudy,
  createCluster,
  destroyCluster,
  exited,
  expectExactAudit,
  runCli,
  spawnCoordinator,
  spawnWorker,
  startCoordinator,
  studyYaml,
  submit,
  waitFor,
  waitForEpochs,
  waitForState,
  type LogListener,
  type StudyAudit,
  type TestCluster,
} from './harness.js';

/**
 * Crashes mid-study. Each study is KerasTuner's Hyperband(3, 3, 1): brackets 3→1 and 2 trials
 * → 5 trials, 6 trial rungs, 3·1 + 1·2 + 2·3 = 11 epochs. Whatever breaks, the study must end
 * with exactly those counts: nothing recorded twice, nothing lost.
 */
const HB331 = '{type: hyperband, maxEpochs: 3, factor: 3, iterations: 1}';

function expectExactHb331(audit: StudyAudit): void {
  expectExactAudit(audit, { trials: 5, rungs: 6, epochs: 11, finalEpochs: [1, 1, 3, 3, 3] });
}

interface Victim {
  pid: number;
  jobId: string;
  epoch: number;
}

/**
 * A worker log listener that sends `signal` to the first worker that finishes the first epoch of
 * a multi-epoch rung, so the rung's next epoch is in progress; `victim()` tells which, once it has.
 */
function signalWorkerMidRung(signal: NodeJS.Signals): { onLog: LogListener; victim: () => Victim | null } {
  let victim: Victim | null = null;
  const onLog: LogListener = (line, child) => {
    if (victim || line.msg !== 'epoch done') return;
    const epoch = Number(line.epoch);
    if (Number(line.toEpoch) - epoch >= 1 && epoch === Number(line.fromEpoch) + 1) {
      victim = { pid: child.pid ?? -1, jobId: String(line.jobId), epoch };
      child.kill(signal);
    }
  };
  return { onLog, victim: () => victim };
}

let cluster: TestCluster | null = null;
afterEach(async () => {
  if (cluster) await destroyCluster(cluster);
  cluster = null;
});

describe('crashes mid-study', () => {
  it('SIGKILL of a worker mid-rung: the rung is retried elsewhere and resumes from its checkpoint', async () => {
    const c = (cluster = await createCluster('sigkill', { perClass: 60 }));
    await startCoordinator(c);
    const killer = signalWorkerMidRung('SIGKILL');
    const info = { LOG_LEVEL: 'debug' }; // 'epoch done' lines are debug
    const a = spawnWorker(c, killer.onLog, info);
    const b = spawnWorker(c, killer.onLog, info);
    const studyId = await submit(c, studyYaml(c, HB331));
    const victim = await waitFor('a worker to be killed mid-rung', async () => killer.victim());
    const survivor = victim.pid === a.pid ? b : a;

    await waitForState(c, studyId, 'completed');
    expectExactHb331(await auditStudy(c, studyId));

    // The survivor picked the stalled rung up from the checkpoint, not from scratch.
    const survivorLogs = c.logs.get(survivor.pid ?? -1) ?? [];
    const resumed = survivorLogs.find((l) => l.msg === 'resumed from checkpoint' && l.jobId === victim.jobId);
    expect(resumed, `survivor resumed ${victim.jobId}`).toBeDefined();
    expect(Number(resumed?.epoch)).toBeGreaterThanOrEqual(victim.epoch);
    const retrained = survivorLogs
      .filter((l) => l.msg === 'epoch done' && l.jobId === victim.jobId)
      .map((l) => Number(l.epoch));
    expect(retrained.every((e) => e > victim.epoch)).toBe(true);
    expect(c.coordinator?.stats.recorded.result).toBe(6);
    // The killed attempt's directory goes once the survivor's result (which names it) closed the rung.
    const killedAttempt = (c.logs.get(victim.pid) ?? []).find(
      (l) => l.jobId === victim.jobId && typeof l.attemptKey === 'string',
    )?.attemptKey;
    expect(killedAttempt, 'the killed attempt logged its checkpoint key').toMatch(/^checkpoints\//);
    await waitFor(
      `the killed attempt's checkpoint ${String(killedAttempt)} to be deleted`,
      async () => !existsSync(path.join(c.artifactRoot, String(killedAttempt))),
    );
  }, 300_000);

  it('SIGTERM of a worker mid-rung: it checkpoints, hands the rung back and exits 0', async () => {
    const c = (cluster = await createCluster('sigterm', { perClass: 60 }));
    await startCoordinator(c);
    const stopper = signalWorkerMidRung('SIGTERM');
    const info = { LOG_LEVEL: 'debug' }; // 'epoch done' lines are debug
    const a = spawnWorker(c, stopper.onLog, info);
    const b = spawnWorker(c, stopper.onLog, info);
    const studyId = await submit(c, studyYaml(c, HB331));
    const victim = await waitFor('a worker to be stopped mid-rung', async () => stopper.victim());
    const [leaving, survivor] = victim.pid === a.pid ? [a, b] : [b, a];
    expect(await exited(leaving)).toBe(0);
    const leavingLogs = c.logs.get(leaving.pid ?? -1) ?? [];
    expect(
      leavingLogs.some((l) => l.msg === 'handing the rung back (shutting down)' && l.jobId === victim.jobId),
    ).toBe(true);

    await waitForState(c, studyId, 'completed');
    expectExactHb331(await auditStudy(c, studyId));
    const survivorLogs = c.logs.get(survivor.pid ?? -1) ?? [];
    const resumed = survivorLogs.find((l) => l.msg === 'resumed from checkpoint' && l.jobId === victim.jobId);
    expect(Number(resumed?.epoch)).toBeGreaterThanOrEqual(victim.epoch);
  }, 300_000);

  it('restart of the coordinator mid-study: results produced while it was down are recorded once', async () => {
    const c = (cluster = await createCluster('restart', { perClass: 40 }));
    const port = 18_000 + Math.floor(Math.random() * 2000);
    const api = { BRAINTUNE_URL: `http://127.0.0.1:${port}` };
    spawnCoordinator(c, port);
    spawnWorker(c);
    spawnWorker(c);
    const file = path.join(path.dirname(c.dataDir), 'study.yaml');
    await writeFile(file, studyYaml(c, HB331));
    const submitted = await waitFor(
      'the API to accept the study',
      async () => {
        const r = await runCli(c, ['submit', file, '--json'], api);
        return r.code === 0 ? r : null;
      },
      60_000,
      500,
    );
    const { studyId } = JSON.parse(submitted.lastLine) as { studyId: string };

    await waitForEpochs(c, studyId, 2);
    c.coordinatorProcess?.kill('SIGKILL');
    await exited(c.coordinatorProcess!);
    // Workers keep training and reporting into the durable results queue meanwhile.
    await new Promise((r) => setTimeout(r, 3000));
    spawnCoordinator(c, port);

    await waitForState(c, studyId, 'completed');
    expectExactHb331(await auditStudy(c, studyId));

    const status = await runCli(c, ['status', studyId, '--json'], api);
    expect(status.code, status.stderr).toBe(0);
    const line = JSON.parse(status.lastLine) as Record<string, unknown>;
    expect(line).toMatchObject({
      studyId,
      state: 'completed',
      trials: { total: 5, completed: 5, failed: 0, running: 0, queued: 0 },
      rungs: { planned: 6, completed: 6 },
    });
    expect(line.best).toMatchObject({
      trialId: expect.any(String),
      hyperparameters: expect.any(Object),
      valMacroF1: expect.any(Number),
      valAccuracy: expect.any(Number),
    });
  }, 300_000);

  it('FLUSHDB of Redis mid-study: reconciliation queues every open rung again, exactly once', async () => {
    const c = (cluster = await createCluster('flush', { redisDb: 13, perClass: 40 }));
    const coordinator = await startCoordinator(c);
    spawnWorker(c);
    spawnWorker(c);
    const studyId = await submit(c, studyYaml(c, HB331));
    await waitForEpochs(c, studyId, 3);
    const redis = new Redis(c.redisUrl);
    await redis.flushdb();
    redis.disconnect();

    await waitForState(c, studyId, 'completed');
    expectExactHb331(await auditStudy(c, studyId));
    expect(coordinator.stats.requeued).toBeGreaterThan(0);
    expect(coordinator.stats.recorded.result).toBe(6);
  }, 300_000);
});
