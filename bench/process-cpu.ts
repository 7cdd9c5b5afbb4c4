/**
 * CPU time of the processes a benchmark shares the machine with, read from Linux's /proc:
 * on a 2-core machine the coordinator, the simulated workers, Redis and Postgres compete for
 * the same cores, and which of them spends what is what decides the throughput. Elsewhere
 * (no /proc) there is no account (null) and the benchmark says so. Processes that exit during
 * the run (Postgres' autovacuum workers) are not counted.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Which component a process belongs to; null: not one the benchmark accounts for. */
export type Classify = (pid: number, comm: string) => string | null;

/** Clock ticks per second of /proc/<pid>/stat times: 100 on every Linux this runs on (USER_HZ). */
const TICKS_PER_SECOND = 100;

async function processTicks(pid: number): Promise<{ comm: string; ticks: number } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields count from its end.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    return { comm, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null; // exited between listing and reading
  }
}

/** CPU seconds per component now (processes that exited since are not counted). */
export async function cpuByComponent(classify: Classify): Promise<Map<string, number> | null> {
  let pids: number[];
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return null;
  }
  const totals = new Map<string, number>();
  for (const pid of pids) {
    const p = await processTicks(pid);
    const component = p && classify(pid, p.comm);
    if (component) totals.set(component, (totals.get(component) ?? 0) + p.ticks / TICKS_PER_SECOND);
  }
  return totals;
}

/** CPU seconds each component spent between two accounts. */
export function cpuSpent(
  before: Map<string, number> | null,
  after: Map<string, number> | null,
): Record<string, number> | null {
  if (!before || !after) return null;
  const spent: Record<string, number> = {};
  for (const [component, seconds] of after)
    spent[component] = Number((seconds - (before.get(component) ?? 0)).toFixed(2));
  return spent;
}
