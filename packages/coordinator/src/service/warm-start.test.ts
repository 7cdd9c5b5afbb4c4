import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trialJobId } from '@braintune/protocol';
import { dropDatabase, migrateDatabase, openDatabase, type Database } from '../db/client.js';
import { studies, trialRungs, trials } from '../db/schema.js';
import { createSampler } from '../scheduling/sampler.js';
import { parseStudyConfig } from '../study/config.js';
import { StudyConfigError } from '../study/problems.js';
import { SearchSpaceSampler } from '../study/space-sampling.js';
import { proposalInputs } from './sampler-history.js';
import { defaultStudyFactory } from './study-factory.js';
import { submitStudy } from './submit.js';
import { loadWarmStart, warmStartProblems } from './warm-start.js';

const url = `postgres://postgres@127.0.0.1:5432/bt_warm_${randomBytes(3).toString('hex')}`;
const SPACE = `{learningRate: {type: float, min: 0.0001, max: 0.1, sampling: log}, optimizer: [adam, sgd], convDropout: {type: float, min: 0, max: 0.5, step: 0.1}}`;
const yaml = (space: string, extra = '') =>
  `name: w\ndataset: {path: /d, imageSize: 16}\nsearchSpace: ${space}\nscheduler: {type: random, epochs: 3, maxTrials: 30}\nsampler: {type: tpe, startupTrials: 5}\n${extra}`;

let database: Database;

/** A finished study of `n` random trials with one scored 3-epoch rung each. */
async function finishedStudy(
  id: string,
  space: string,
  n: number,
  state: 'completed' | 'running' = 'completed',
) {
  const def = defaultStudyFactory.parse(yaml(space));
  const db = database.db;
  await db.insert(studies).values({
    id,
    name: id,
    config: def.config,
    source: def.config,
    state,
    datasets: [{ hash: 'b'.repeat(64), imageSize: 16, classes: ['a', 'b'] }],
  });
  const config = parseStudyConfig(yaml(space));
  const sampler = new SearchSpaceSampler(config.searchSpace, 3);
  const tried = new Set<string>();
  for (let i = 0; i < n; i++) {
    const p = sampler.propose(i, tried)!;
    tried.add(p.hpHash);
    const trialId = `${id}:${i}`;
    await db.insert(trials).values({
      id: trialId,
      studyId: id,
      index: i,
      hyperparameters: p.hyperparameters,
      hpHash: p.hpHash,
      seed: i,
      checkpointKey: `c/${trialId}`,
    });
    await db
      .insert(trialRungs)
      .values({ trialId, studyId: id, rung: 0, fromEpoch: 0, toEpoch: 3, jobId: trialJobId(trialId, 0) });
    await db
      .update(trialRungs)
      .set({
        status: 'completed',
        score: -Math.abs(Math.log10(p.hyperparameters.learningRate) + 2.5),
        meetsConstraints: true,
      })
      .where(eq(trialRungs.trialId, trialId));
  }
}

beforeAll(async () => {
  await migrateDatabase(url);
  database = openDatabase(url, { max: 2 });
  await finishedStudy('st-same', SPACE, 12);
  await finishedStudy(
    'st-other',
    `{learningRate: {type: float, min: 0.001, max: 0.1, sampling: log}, optimizer: [adam]}`,
    3,
  );
  await finishedStudy('st-live', SPACE, 2, 'running');
}, 60_000);
afterAll(async () => {
  await database?.close();
  await dropDatabase(url);
});

describe('warm start', () => {
  it('refuses other spaces, running or unknown studies, naming what differs, and stores nothing', async () => {
    const config = defaultStudyFactory.parse(
      yaml(SPACE, 'warmStart: {studies: [st-other, st-live, st-nope, st-same]}'),
    ).config;
    const problems = await warmStartProblems(database.db, config);
    expect(problems).toEqual([
      'warmStart.studies[0]: study st-other searched a different space; these parameters differ: convDropout, learningRate, optimizer (warm start needs the same search space)',
      'warmStart.studies[1]: study st-live is still running; warm-start from studies that have ended',
      'warmStart.studies[2]: no study st-nope; list studies with GET /api/studies',
    ]);
    const before = await database.db.select().from(studies);
    await expect(
      submitStudy(database.db, defaultStudyFactory, yaml(SPACE, 'warmStart: {studies: [st-other]}')),
    ).rejects.toBeInstanceOf(StudyConfigError);
    expect(await database.db.select().from(studies)).toHaveLength(before.length);
    // Data set bundles are compared once the new study's are known.
    const datasets = [{ hash: 'c'.repeat(64), imageSize: 16, classes: ['a', 'b'] }];
    const same = defaultStudyFactory.parse(yaml(SPACE, 'warmStart: {studies: [st-same]}')).config;
    expect(await warmStartProblems(database.db, same)).toEqual([]);
    expect((await warmStartProblems(database.db, same, datasets))[0]).toMatch(
      /trained on data set bundle bbbbbbbbbbbb/,
    );
  });

  it('feeds the earlier results to TPE from the first trial on', async () => {
    const observations = await loadWarmStart(database.db, ['st-same']);
    expect(observations).toHaveLength(12);
    expect(observations.every((o) => o.source === 'st-same' && o.epochs === 3)).toBe(true);
    const config = parseStudyConfig(yaml(SPACE));
    const cold = createSampler({ config: config.sampler, space: config.searchSpace, seed: 1 });
    const warm = createSampler({
      config: config.sampler,
      space: config.searchSpace,
      seed: 1,
      warmStart: observations,
    });
    const request = { index: 0, tried: new Set<string>(), history: () => [] };
    // Cold: trial 0 is the random draw; warm: the model proposes, near the good learning rate.
    expect(cold.propose(request)?.hpHash).toBe(
      new SearchSpaceSampler(config.searchSpace, 1).propose(0, new Set())?.hpHash,
    );
    const proposal = warm.propose(request)!;
    expect(proposal.hpHash).not.toBe(cold.propose(request)?.hpHash);
    expect(Math.abs(Math.log10(proposal.hyperparameters.learningRate) + 2.5)).toBeLessThan(1);
  });

  it('stamps result and history sequence numbers so a proposal’s history can be rebuilt', async () => {
    const { history, tried, historySeq } = await proposalInputs(database.db, 'st-same', 11);
    // Trial 11 was inserted after the rungs of trials 0..10 ended: it saw exactly those results.
    expect(history.map((o) => o.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(tried.size).toBe(11);
    expect(historySeq).toBeGreaterThan(0);
  });
});
