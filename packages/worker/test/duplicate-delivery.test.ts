import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { trialRungs, trials } from '@braintune/coordinator';
import {
  auditStudy,
  createCluster,
  destroyCluster,
  expectExactAudit,
  spawnWorker,
  startCoordinator,
  studyYaml,
  submit,
  waitFor,
  waitForState,
  type LogListener,
  type TestCluster,
} from './harness.js';

const HB331 = '{type: hyperband, maxEpochs: 3, factor: 3, iterations: 1}';

let cluster: TestCluster | null = null;
afterEach(async () => {
  for (const w of cluster?.workers ?? []) w.kill('SIGKILL');
  if (cluster) await destroyCluster(cluster);
  cluster = null;
}, 120_000);

/** The latest snapshot's state of a checkpoint directory in the filesystem store (no TensorFlow needed). */
async function checkpointState(
  c: TestCluster,
  key: string,
): Promise<{ epoch: number; history: { epoch: number }[] }> {
  const dir = path.join(c.artifactRoot, key);
  const latest = JSON.parse(await readFile(path.join(dir, 'latest.json'), 'utf8')) as { path: string };
  return JSON.parse(await readFile(path.join(dir, latest.path, 'state.json'), 'utf8')) as {
    epoch: number;
    history: { epoch: number }[];
  };
}

describe('duplicate delivery after a stall', () => {
  it('two workers on one rung: each attempt writes its own checkpoint and the recorded one is committed', async () => {
    const c = (cluster = await createCluster('duplicate', { perClass: 60 }));
    const coordinator = await startCoordinator(c);
    // Freeze (SIGSTOP) the first worker that finished the first epoch of a multi-epoch rung: its
    // job lock expires and the other worker is handed the same rung while it still holds it.
    let frozen: { pid: number; jobId: string; attemptKey: string } | null = null;
    const freezer: LogListener = (line, child) => {
      if (frozen || line.msg !== 'epoch done') return;
      const epoch = Number(line.epoch);
      if (Number(line.toEpoch) - epoch >= 1 && epoch === Number(line.fromEpoch) + 1) {
        frozen = { pid: child.pid ?? -1, jobId: String(line.jobId), attemptKey: String(line.attemptKey) };
        child.kill('SIGSTOP');
      }
    };
    const debug = { LOG_LEVEL: 'debug' }; // 'epoch done' lines are debug
    const a = spawnWorker(c, freezer, debug);
    const b = spawnWorker(c, freezer, debug);
    const studyId = await submit(c, studyYaml(c, HB331));
    const victim = await waitFor('a worker to be frozen mid-rung', async () => frozen, 240_000);
    const [stalled, other] = victim.pid === a.pid ? [a, b] : [b, a];

    // The other worker trains the rung to its end and its result is recorded...
    const [trialId, rung] = [
      victim.jobId.split(':').slice(0, 2).join(':'),
      Number(victim.jobId.split(':')[2]),
    ];
    await waitFor('the redelivered rung to complete', async () => {
      const [row] = await c.database.db
        .select({ status: trialRungs.status })
        .from(trialRungs)
        .where(and(eq(trialRungs.trialId, trialId), eq(trialRungs.rung, rung)));
      return row?.status === 'completed';
    });
    // ...then the stalled worker wakes up mid-epoch, finishes and saves that epoch, and notices
    // that it lost the job: the moment it would overwrite a shared checkpoint.
    stalled.kill('SIGCONT');
    const stalledLogs = c.logs.get(stalled.pid ?? -1) ?? [];
    await waitFor('the stalled worker to give the rung up', async () =>
      stalledLogs.some(
        (l) => l.msg === 'rung failed' && l.jobId === victim.jobId && String(l.err).includes('lost the lock'),
      ),
    );
    await waitForState(c, studyId, 'completed');
    expectExactAudit(await auditStudy(c, studyId), {
      trials: 5,
      rungs: 6,
      epochs: 11,
      finalEpochs: [1, 1, 3, 3, 3],
    });

    // Two attempts, two directories; the trial's checkpoint is the attempt that was recorded.
    const otherLogs = c.logs.get(other.pid ?? -1) ?? [];
    const redelivered = otherLogs.find((l) => l.msg === 'rung started' && l.jobId === victim.jobId);
    expect(redelivered, 'the other worker was handed the stalled rung').toBeDefined();
    expect(String(redelivered?.attemptKey)).not.toBe(victim.attemptKey);
    const [trial] = await c.database.db.select().from(trials).where(eq(trials.id, trialId));
    expect(trial?.checkpointKey).toBe(String(redelivered?.attemptKey));
    // The recorded result named the stalled attempt, whose directory went when it closed the
    // rung (chaos.test.ts checks that deletion). A stalled worker that saved its epoch after
    // that wrote into its own directory only: a valid checkpoint within the rung, left behind.
    if (existsSync(path.join(c.artifactRoot, victim.attemptKey))) {
      const stalledState = await checkpointState(c, victim.attemptKey);
      expect(stalledState.epoch).toBeLessThanOrEqual(trial?.epochsDone ?? 0);
      expect(stalledState.history.map((h) => h.epoch)).toEqual(
        Array.from({ length: stalledState.epoch }, (_, i) => i + 1),
      );
    }

    // Every trial's committed checkpoint holds exactly the epochs recorded for it.
    for (const t of await c.database.db.select().from(trials).where(eq(trials.studyId, studyId))) {
      const state = await checkpointState(c, t.checkpointKey);
      expect(state.epoch, t.id).toBe(t.epochsDone);
      expect(
        state.history.map((h) => h.epoch),
        t.id,
      ).toEqual(Array.from({ length: t.epochsDone }, (_, i) => i + 1));
    }
    expect(coordinator.stats.recorded.result).toBe(6);
  }, 420_000);
});
