import type { Command } from 'commander';
import { InvalidInputError, readEnv } from '@braintune/protocol';
import { requireServices } from '../preflight.js';
import { startDashboardServer } from '@braintune/dashboard';

/** `braintune dashboard [--port N] [--host H]`: the web UI and its API on one port, until Ctrl-C. */
export function register(program: Command): void {
  program
    .command('dashboard')
    .description('serve the web dashboard (studies, leaderboard, registry, predict) and the REST API')
    .option('--port <port>', 'port (default: $PORT or 8080)')
    .option(
      '--host <host>',
      'interface to listen on (others than loopback need BRAINTUNE_API_TOKEN)',
      '127.0.0.1',
    )
    .option('--insecure', 'allow a non-loopback --host without BRAINTUNE_API_TOKEN')
    .action(async (opts: { port?: string; host: string; insecure?: boolean }) => {
      const env = readEnv();
      await requireServices({
        redisUrl: env.REDIS_URL,
        databaseUrl: env.DATABASE_URL,
        artifactRoot: env.ARTIFACT_ROOT,
      });
      const port = opts.port === undefined ? env.PORT : Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new InvalidInputError(`--port must be a port number, got "${opts.port}"`, 'e.g. --port 8080');
      const server = await startDashboardServer(env, { port, host: opts.host, insecure: opts.insecure });
      console.log(`dashboard: ${server.url}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    });
}
