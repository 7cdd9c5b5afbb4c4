import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { createLogger, readEnv } from '@braintune/protocol';
import { clusterSettings } from '../api-client.js';
import { addDemoOptions, type DemoCliOptions } from '../demo/options.js';
import { ensureLocalServices } from '../local-services.js';
import { integerOption } from '../options.js';
import { requireServices } from '../preflight.js';
import { untilSignal } from '../signals.js';
import type { BindOptions } from '../server.js';
import { startWorkerPool } from '../worker-pool.js';

/** `.braintune/` (the parent of a local ARTIFACT_ROOT): embedded servers' data, worker logs, demo data. */
function stateDirOf(artifactRoot: string): string {
  if (artifactRoot.startsWith('s3://')) return path.resolve('.braintune');
  const local = artifactRoot.startsWith('file://') ? new URL(artifactRoot).pathname : artifactRoot;
  return path.resolve(local, '..');
}

const shown = (dir: string): string => {
  const rel = path.relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') ? rel : dir;
};

/**
 * `braintune up [--workers N] [--port 8080]`: the local cluster in one process tree —
 * migrations, coordinator, API (and dashboard) in this process, N worker child processes
 * (`braintune … worker`), restarted if they die and stopping by themselves if this process
 * dies. Without DATABASE_URL / REDIS_URL and no server on the default addresses it starts an
 * embedded Postgres and redis-server (see local-services.ts). Ctrl-C / SIGTERM stops
 * everything: workers checkpoint their epoch and hand their rungs back first.
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
    // A refused binding fails before any service starts.
    (await import('../server.js')).checkBinding(opts);
    const log = createLogger('up');
    const workers =
      opts.workers === undefined ? availableParallelism() : integerOption('--workers', opts.workers, 0, 2);
    const stateDir = stateDirOf(readEnv().ARTIFACT_ROOT);
    const services = await ensureLocalServices(stateDir, log);
    try {
      for (const note of services.notes) console.log(note);
      const s = clusterSettings();
      const port = opts.port === undefined ? s.port : integerOption('--port', opts.port, 0, 8080);
      // Before the demo's phantoms: a wrong URL fails in seconds, not after the data is made.
      await requireServices({
        redisUrl: s.redisUrl,
        databaseUrl: s.databaseUrl,
        artifactRoot: s.artifactRoot,
      });
      // Loaded after the check: the coordinator, dashboard and phantom generator take seconds to load.
      const [{ prepareDemo }, { startCoordinatorService }, { startHttp }] = await Promise.all([
        import('../demo/index.js'),
        import('../coordinator-service.js'),
        import('../server.js'),
      ]);
      const demo = await prepareDemo(opts, s.artifactRoot, log);

      const coordinator = await startCoordinatorService(s, createLogger('coordinator'));
      const http = await startHttp(
        coordinator,
        { port, prefix: s.prefix, databaseUrl: s.databaseUrl, host: opts.host, insecure: opts.insecure },
        log,
      );
      // The demo's live status redraws the terminal: worker output goes to files instead.
      const logDir = demo && process.stdout.isTTY ? path.join(stateDir, 'logs') : null;
      const pool = startWorkerPool({
        count: workers,
        env: { PORT: String(port), ...(logDir ? { LOG_FORMAT: 'json' } : {}) },
        logDir,
        log,
      });

      console.log(
        `braintune is up at ${http.url} (${workers} worker${workers === 1 ? '' : 's'}${http.dashboard ? ', dashboard' : ''}); Ctrl-C stops it`,
      );
      if (logDir) console.log(`worker logs: ${shown(logDir)}/worker-<n>.log`);

      const demoRun = demo?.start(http);
      const signal = await Promise.race([untilSignal(), ...(demoRun ? [demoRun.stopRequested] : [])]);
      log.info({ signal }, 'stopping: workers finish their epoch first');
      await pool.stop();
      await http.close();
      await coordinator.stop();
      await services.stop();
      console.log('braintune stopped');
      process.exit(demoRun ? demoRun.finish() : 0);
    } catch (err) {
      await services.stop();
      throw err;
    }
  });
}
