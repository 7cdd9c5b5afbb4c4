import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@braintune/protocol';
import { PARENT_PID_ENV } from './parent-watch.js';

export interface WorkerPoolOptions {
  count: number;
  /** Extra environment of every worker (PORT, the URLs `up` decided on). */
  env: NodeJS.ProcessEnv;
  /**
   * Where the workers' output goes: null inherits this process's stdout/stderr; a directory
   * gets one `worker-<slot>.log` per worker (so a live status on the terminal stays intact).
   */
  logDir: string | null;
  log: Logger;
}

export interface WorkerPool {
  readonly pids: number[];
  /** SIGTERM to every worker (they finish their epoch and hand their rung back), then wait. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The worker processes of `braintune up`: restarted when one dies, each told our pid and given
 * an IPC channel so it exits by itself when `up` dies, even by SIGKILL (see parent-watch.ts).
 */
export function startWorkerPool(options: WorkerPoolOptions): WorkerPool {
  let stopping = false;
  const children = new Set<ChildProcess>();
  const logs: WriteStream[] = [];
  const script = process.argv[1] ?? '';
  if (options.logDir) mkdirSync(options.logDir, { recursive: true });

  const spawnWorker = (slot: number): void => {
    let out: WriteStream | null = null;
    if (options.logDir) {
      out = createWriteStream(path.join(options.logDir, `worker-${slot}.log`), { flags: 'a' });
      logs.push(out);
    }
    // argv0 "braintune" so the command line reads `braintune … worker` whichever entry point runs.
    const child = spawn(process.execPath, [...process.execArgv, script, 'worker', '--concurrency', '1'], {
      argv0: 'braintune',
      env: { ...process.env, ...options.env, [PARENT_PID_ENV]: String(process.pid) },
      stdio: out ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (out) {
      child.stdout?.pipe(out, { end: false });
      child.stderr?.pipe(out, { end: false });
    }
    children.add(child);
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (stopping) return;
      options.log.warn({ slot, code, signal }, 'worker exited; restarting it');
      setTimeout(() => !stopping && spawnWorker(slot), 1000).unref();
    });
  };
  for (let i = 0; i < options.count; i++) spawnWorker(i);

  return {
    get pids() {
      return [...children].map((c) => c.pid).filter((p): p is number => p !== undefined);
    },
    async stop(graceMs = 120_000) {
      stopping = true;
      await Promise.all(
        [...children].map(
          (child) =>
            new Promise<void>((resolve) => {
              const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
              child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
      for (const out of logs) out.end();
    },
  };
}
