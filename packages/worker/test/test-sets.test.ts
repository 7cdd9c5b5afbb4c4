import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { studies, trialRungs, trials } from '@braintune/coordinator';
import type { TestSetScores } from '@braintune/protocol';
import {
  makeTinyImages,
  runCli,
  spawnCoordinator,
  spawnWorker,
  studyYaml,
  useCluster,
  waitFor,
  waitForState,
} from './harness.js';

const port = 21_000 + Math.floor(Math.random() * 2000);
const api = { BRAINTUNE_URL: `http://127.0.0.1:${port}` };

describe('a study with external test sets', () => {
  const setup = useCluster('testsets', { perClass: 16 }, async (c) => {
    const root = path.dirname(c.dataDir);
    await makeTinyImages(path.join(root, 'external'), 6);
    // A test set holding one of the two classes only (allowed), and one with a misnamed class.
    await makeTinyImages(path.join(root, 'partial'), 5);
    await rename(path.join(root, 'partial', 'bright_top'), path.join(root, 'ignored-top'));
    await makeTinyImages(path.join(root, 'misnamed'), 2);
    await rename(path.join(root, 'misnamed', 'bright_top'), path.join(root, 'misnamed', 'bright_left'));
    spawnCoordinator(c, port);
    spawnWorker(c);
  });

  async function submitFile(yaml: string): Promise<string> {
    const c = setup.cluster;
    const file = path.join(path.dirname(c.dataDir), `study-${Date.now()}.yaml`);
    await writeFile(file, yaml);
    let last = '';
    const submitted = await waitFor(
      'the API to accept the study',
      async () => {
        const r = await runCli(c, ['submit', file, '--json'], api);
        last = r.stderr;
        return r.code === 0 ? r : null;
      },
      150_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last submit: ${last}`);
    });
    return (JSON.parse(submitted.lastLine) as { studyId: string }).studyId;
  }

  it('scores every rung on each test set and shows the scores beside the objective', async () => {
    const c = setup.cluster;
    const root = path.dirname(c.dataDir);
    const studyId = await submitFile(
      studyYaml(
        c,
        '{type: random, epochs: 1, maxTrials: 2}',
        `evaluation:\n  testSets:\n    - {name: external, path: ${JSON.stringify(path.join(root, 'external'))}}\n    - {name: partial, path: ${JSON.stringify(path.join(root, 'partial'))}}\n`,
      ),
    );
    await waitForState(c, studyId, 'completed');

    const [study] = await c.database.db.select().from(studies).where(eq(studies.id, studyId));
    expect(study?.datasets?.[0]?.testSets?.map((t) => t.name)).toEqual(['external', 'partial']);
    const rows = await c.database.db.select().from(trials).where(eq(trials.studyId, studyId));
    const rungs = await c.database.db.select().from(trialRungs).where(eq(trialRungs.studyId, studyId));
    expect(rows).toHaveLength(2);
    for (const t of rows) {
      const scores = t.testScores as TestSetScores;
      expect(scores.external?.images).toBe(12);
      expect(scores.partial?.images).toBe(5);
      expect(scores.partial?.perClass.bright_top?.support).toBe(0);
      // A test set with one class: macro-F1 is that class's F1, not halved by the absent one.
      expect(scores.partial?.macroF1).toBeCloseTo(scores.partial?.perClass.bright_bottom?.f1 ?? -1, 12);
      const m = scores.external!.confusionMatrix;
      expect(m.flat().reduce((a, b) => a + b, 0)).toBe(12);
      expect(scores.external!.accuracy).toBeCloseTo(((m[0]?.[0] ?? 0) + (m[1]?.[1] ?? 0)) / 12, 12);
      // The objective is the validation macro-F1, untouched by the test sets.
      expect(t.score).toBe(t.valMacroF1);
      expect(rungs.find((r) => r.trialId === t.id)?.testScores).toEqual(scores);
    }

    const res = await fetch(`${api.BRAINTUNE_URL}/api/studies/${studyId}/trials?sort=objective`);
    const board = (await res.json()) as {
      trialId: string;
      rank: number;
      score: number;
      test: TestSetScores;
    }[];
    // Ranked by the objective alone.
    expect(board.map((r) => r.score)).toEqual([...board.map((r) => r.score)].sort((a, b) => b - a));
    for (const r of board) expect(r.test).toEqual(rows.find((t) => t.id === r.trialId)?.testScores);

    const status = await runCli(c, ['status', studyId, '--json'], api);
    expect(status.code, status.stderr).toBe(0);
    const line = JSON.parse(status.lastLine) as {
      best: { trialId: string; test: Record<string, { accuracy: number; macroF1: number }> };
    };
    expect(line.best.trialId).toBe(board[0]?.trialId);
    const best = board[0]!.test;
    expect(line.best.test).toEqual({
      external: { accuracy: best.external?.accuracy, macroF1: best.external?.macroF1 },
      partial: { accuracy: best.partial?.accuracy, macroF1: best.partial?.macroF1 },
    });
  }, 360_000);

  it('fails preparation with a clear error when a test set has a class the study lacks', async () => {
    const c = setup.cluster;
    const root = path.dirname(c.dataDir);
    await mkdir(root, { recursive: true });
    const studyId = await submitFile(
      studyYaml(
        c,
        '{type: random, epochs: 1, maxTrials: 1}',
        `evaluation:\n  testSets:\n    - {name: odd, path: ${JSON.stringify(path.join(root, 'misnamed'))}}\n`,
      ),
    );
    const error = await waitFor('the study to fail', async () => {
      const [s] = await c.database.db.select().from(studies).where(eq(studies.id, studyId));
      return s?.state === 'failed' ? s.error : null;
    });
    expect(error).toMatch(/evaluation\.testSets\[0\] \("odd"\)/);
    expect(error).toMatch(/"bright_left"/);
  }, 120_000);
});
