import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cli, useCluster, waitFor } from '../../worker/test/harness.js';

/** Pids of the live processes whose parent is `pid`. */
function childPids(pid: number): number[] {
  try {
    const out = execFileSync('ps', ['--ppid', String(pid), '-o', 'pid='], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there is none
  }
}

/** Running, not a zombie (an orphan's exit status waits for whoever adopted it to reap it). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

describe('braintune up killed with SIGKILL', () => {
  const setup = useCluster('orphans', { perClass: 4 });

  it('leaves no worker process behind', { timeout: 300_000 }, async () => {
    const c = setup.cluster;
    const port = 24_000 + Math.floor(Math.random() * 2000);
    const up = cli(c, ['up', '--workers', '2', '--port', String(port)]);
    let stdout = '';
    up.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    await waitFor('braintune is up', async () => stdout.includes('braintune is up'), 240_000);
    const workers = await waitFor(
      '2 workers',
      async () => childPids(up.pid!).length === 2 && childPids(up.pid!),
    );
    expect(workers.every(alive)).toBe(true);
    // Killed once they work (a worker still loading its modules has not set up its watch yet).
    await waitFor(
      'two workers online',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/workers`).catch(() => null);
        const list = res?.ok ? ((await res.json()) as { online: boolean }[]) : [];
        return list.filter((w) => w.online).length === 2;
      },
      240_000,
      500,
    );

    up.kill('SIGKILL');
    // Within 10 s of the parent's death (checked every 250 ms, then once more at the bound).
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && workers.some(alive)) await new Promise((r) => setTimeout(r, 250));
    const left = workers.filter(alive);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    expect(left, 'worker processes still running 10 s after up died').toEqual([]);
  });
});
