import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, exited, runCli, studyYaml, useCluster, waitFor, waitForState } from './harness.js';

/** Command lines of the direct children of a process. */
function childCommandLines(pid: number): string[] {
  const out = execFileSync('ps', ['--ppid', String(pid), '-o', 'args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '');
}

describe('braintune up', () => {
  const setup = useCluster('up', { perClass: 16 });

  it('runs coordinator, API and N worker processes, serves the CLI, and stops cleanly on SIGTERM', async () => {
    const c = setup.cluster;
    const port = 20_000 + Math.floor(Math.random() * 2000);
    const env = { BRAINTUNE_URL: `http://127.0.0.1:${port}` };
    const up = cli(c, ['up', '--workers', '2', '--port', String(port)]);
    let stdout = '';
    up.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    await waitFor('the URL to be printed', async () => stdout.includes(`http://localhost:${port}`), 120_000);

    const workers = childCommandLines(up.pid!).filter((l) => l.includes('braintune') && l.includes('worker'));
    expect(workers).toHaveLength(2);
    await waitFor(
      'two workers online',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/workers`);
        const list = (await res.json()) as { online: boolean }[];
        return list.filter((w) => w.online).length === 2;
      },
      60_000,
      500,
    );

    const file = path.join(path.dirname(c.dataDir), 'random.yaml');
    await writeFile(file, studyYaml(c, '{type: random, epochs: 1, maxTrials: 3}'));
    const submitted = await runCli(c, ['submit', file, '--wait'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { studyId, state } = JSON.parse(submitted.lastLine) as { studyId: string; state: string };
    expect(state).toBe('completed');
    await waitForState(c, studyId, 'completed');
    const board = await runCli(c, ['leaderboard', studyId, '--json'], env);
    const rows = JSON.parse(board.lastLine) as { rank: number }[];
    expect(rows.map((r) => r.rank)).toEqual([1, 2, 3]);
    const table = await runCli(c, ['leaderboard', studyId], env);
    expect(table.stdout).toContain(studyId);

    up.kill('SIGTERM');
    expect(await exited(up)).toBe(0);
    expect(stdout).toContain('braintune stopped');
  }, 180_000);
});
