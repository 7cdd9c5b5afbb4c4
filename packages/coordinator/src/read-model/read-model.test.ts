import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trialJobId } from '@braintune/protocol';
import { dropDatabase, migrateDatabase, openDatabase, type Database } from '../db/client.js';
import { studies, trialRungs, trials } from '../db/schema.js';
import { defaultStudyFactory } from '../service/study-factory.js';
import { compareTrials } from '../study/objective.js';
import { studyBrackets } from './brackets.js';
import { listTrials } from './trial-rows.js';
import { studySnapshot } from './snapshot.js';
import { studySummary } from './study-summary.js';

/** The read model against a real Postgres: SQL ranking agrees with compareTrials, pages are slices of it. */
const url = `postgres://postgres@127.0.0.1:5432/bt_read_${randomBytes(3).toString('hex')}`;
const STUDY = 'st-read';
const TRIALS = 300;
let database: Database;

/** Scores with ties, nulls and constraint misses, so every key of the order decides somewhere. */
const trialOf = (i: number) => ({
  score: i % 7 === 0 ? null : -(Math.floor(i / 3) % 11) / 10,
  meetsConstraints: i % 7 === 0 ? null : i % 4 !== 0,
  epochsDone: (i * 5) % 9,
  index: i,
});

beforeAll(async () => {
  await migrateDatabase(url);
  database = openDatabase(url, { max: 4 });
  const def = defaultStudyFactory.parse(
    'name: r\ndataset: {path: /d, imageSize: 16}\nsearchSpace: {learningRate: [0.01, 0.001], optimizer: [adam, sgd]}\nobjective: {metric: val_loss}\nscheduler: {type: asha, minEpochs: 1, maxEpochs: 9, factor: 3, maxTrials: 300}\n',
  );
  await database.db
    .insert(studies)
    .values({ id: STUDY, name: 'r', config: def.config, source: def.config, state: 'running' });
  const rows = Array.from({ length: TRIALS }, (_, i) => ({
    id: `${STUDY}:${i}`,
    studyId: STUDY,
    hyperparameters: { learningRate: i % 2 ? 0.01 : 0.001, optimizer: 'adam' } as never,
    hpHash: `h${i}`,
    seed: i,
    checkpointKey: `c/${i}`,
    status: trialOf(i).score === null ? ('failed' as const) : ('completed' as const),
    // Its highest rung, as a promotion leaves it.
    currentRung: i % 3,
    ...trialOf(i),
  }));
  await database.db.insert(trials).values(rows);
  await database.db.insert(trialRungs).values(
    rows.flatMap((t) =>
      Array.from({ length: 1 + (t.index % 3) }, (_, rung) => ({
        trialId: t.id,
        studyId: STUDY,
        rung,
        fromEpoch: rung * 3,
        toEpoch: rung * 3 + 3,
        status: rung < t.index % 3 ? ('completed' as const) : ('running' as const),
        score: t.score,
        jobId: trialJobId(t.id, rung),
      })),
    ),
  );
});

afterAll(async () => {
  await database?.close();
  await dropDatabase(url);
});

describe('the read model', () => {
  it('ranks in SQL exactly as compareTrials ranks in memory', async () => {
    const expected = Array.from({ length: TRIALS }, (_, i) => trialOf(i))
      .sort(compareTrials)
      .map((t) => `${STUDY}:${t.index}`);
    const { rows, total } = await listTrials(database.db, STUDY, 'objective', { limit: 1000, offset: 0 });
    expect(total).toBe(TRIALS);
    expect(rows.map((r) => r.trialId)).toEqual(expected);
    // Unscored trials have no rank; the others are numbered in order.
    const scored = rows.filter((r) => r.score !== null);
    expect(scored.map((r) => r.rank)).toEqual(scored.map((_, i) => i + 1));
    expect(rows.filter((r) => r.score === null).every((r) => r.rank === null)).toBe(true);
    const summary = await studySummary(database.db, STUDY);
    expect(summary.best?.trialId).toBe(expected[0]);
  });

  it('pages the API list and the leaderboard as slices of the one ranking', async () => {
    const whole = await listTrials(database.db, STUDY, 'objective', { limit: 1000, offset: 0 });
    const page = await listTrials(database.db, STUDY, 'objective', { limit: 50, offset: 120 });
    expect(page.rows.map((r) => r.trialId)).toEqual(whole.rows.slice(120, 170).map((r) => r.trialId));
    const board = await studySnapshot(database.db, STUDY, { limit: 50, offset: 120 });
    expect(board.rows.map((r) => r.trialId)).toEqual(whole.rows.slice(120, 170).map((r) => r.trialId));
    expect(board.rows.map((r) => r.rank)).toEqual(Array.from({ length: 50 }, (_, i) => 121 + i));
    expect(board.page).toEqual({ offset: 120, limit: 50, total: TRIALS });
    // val_loss is minimised: the page shows the loss itself, not the oriented score.
    const first = board.rows.find((r) => r.objective !== null)!;
    const stored = whole.rows.find((r) => r.trialId === first.trialId)!;
    expect(first.objective).toBe(-stored.score!);
    expect(board.varyingHyperparameters).toEqual(['learningRate']);
  });

  it('draws the bracket picture in SQL: counts every trial, classifies promotions, keeps the best few', async () => {
    const [ladder, ...others] = await studyBrackets(database.db, STUDY, 'asha');
    expect(others).toEqual([]);
    expect(ladder!.label).toBe('ASHA rungs');
    expect(ladder!.rungs.map((r) => r.count)).toEqual([TRIALS, 200, 100]);
    const rung0 = ladder!.rungs[0]!;
    expect(rung0.trials).toHaveLength(200);
    const t1 = rung0.trials.find((t) => t.index === 1);
    expect(t1?.state).toBe('promoted');
    const scores = rung0.trials.map((t) => t.score ?? -Infinity);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });
});
