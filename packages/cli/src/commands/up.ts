import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { createLogger } from '@braintune/protocol';
import { clusterSettings } from '../api-client.js';
import { startCoordinatorService } from '../coordinator-service.js';
import { addDemoOptions, prepareDemo, type DemoCliOptions } from '../demo/index.js';
import { integerOption } from '../options.js';
import { checkBinding, startHttp, untilSignal, type BindOptions } from '../server.js';

/**
 * `braintune up [--workers N] [--port 8080]`: the local cluster in one process tree —
 * migrations, coordinator, API (and dashboard) in this process, N worker child processes
 * (`braintune … worker`), restarted if they die. Ctrl-C / SIGTERM stops everything: workers
 * checkpoint their epoch and hand their rungs back first.
 */
export function register(program: Command): void {
  addDemoOptions(
    program
      .command('up')
      .description('run a local cluster: coordinator, API/dashboard and worker processes')
      .option('--workers <n>', 'worker processes (default: one per CPU core)')
      .option('--port <port>', 'HTTP port (default: PORT or 8080)')
      .option('--host <host>', 'interface to listen on (default 127.0.0.1; others need BRAINTUNE_API_TOKEN)')
      .option('--insecure', 'allow a non-loopback --host without BRAINTUNE_API_TOKEN'),
  ).action(async (opts: { workers?: string; port?: string } & BindOptions & DemoCliOptions) => {
    const s = clusterSettings();
    checkBinding(opts);
    const log = createLogger('up');
    const workers =
      opts.workers === undefined ? availableParallelism() : integerOption('--workers', opts.workers, 0, 2);
    const port = opts.port === undefined ? s.port : integerOption('--port', opts.port, 0, 8080);
    const demo = await prepareDemo(opts, s.artifactRoot, log);

    const coordinator = await startCoordinatorService(s, createLogger('coordinator'));
    const http = await startHttp(
      coordinator,
      { port, prefix: s.prefix, databaseUrl: s.databaseUrl, host: opts.host, insecure: opts.insecure },
      log,
    );

    let stopping = false;
    const children = new Set<ChildProcess>();
    const script = process.argv[1] ?? '';
    const spawnWorker = (slot: number): void => {
      // argv0 "braintune" so the command line reads `braintune … worker` whichever entry point runs.
      const child = spawn(process.execPath, [...process.execArgv, script, 'worker', '--concurrency', '1'], {
        argv0: 'braintune',
        env: { ...process.env, PORT: String(port) },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.add(child);
      child.on('exit', (code, signal) => {
        children.delete(child);
        if (stopping) return;
        log.warn({ slot, code, signal }, 'worker exited; restarting it');
        setTimeout(() => !stopping && spawnWorker(slot), 1000).unref();
      });
    };
    for (let i = 0; i < workers; i++) spawnWorker(i);

    console.log(
      `braintune is up at ${http.url} (${workers} worker${workers === 1 ? '' : 's'}${http.dashboard ? ', dashboard' : ''}); Ctrl-C stops it`,
    );

    const demoRun = demo?.start(http);
    const signal = await Promise.race([untilSignal(), ...(demoRun ? [demoRun.stopRequested] : [])]);
    stopping = true;
    log.info({ signal }, 'stopping: workers finish their epoch first');
    await Promise.all(
      [...children].map(
        (child) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => child.kill('SIGKILL'), 120_000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    await http.close();
    await coordinator.stop();
    console.log('braintune stopped');
    process.exit(demoRun ? demoRun.finish() : 0);
  });
}
