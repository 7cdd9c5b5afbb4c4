import type { Command } from 'commander';
import { createLogger } from '@braintune/protocol';
import { clusterSettings } from '../api-client.js';
import { startCoordinatorService } from '../coordinator-service.js';
import { integerOption } from '../options.js';
import { checkBinding, startHttp, untilSignal, type BindOptions } from '../server.js';

/** `braintune coordinator [--port N]`: migrations, the coordinator loop and the REST API. */
export function register(program: Command): void {
  program
    .command('coordinator')
    .description('run the coordinator (records results, schedules trials, reconciles Redis) and the REST API')
    .option('--port <port>', 'HTTP port of the API (default: PORT or 8080)')
    .option('--host <host>', 'interface to listen on (default 127.0.0.1; others need BRAINTUNE_API_TOKEN)')
    .option('--insecure', 'allow a non-loopback --host without BRAINTUNE_API_TOKEN')
    .option('--no-http', 'do not serve the API')
    .action(async (opts: { port?: string; http: boolean } & BindOptions) => {
      const s = clusterSettings();
      if (opts.http) checkBinding(opts);
      const log = createLogger('coordinator');
      const port = opts.port === undefined ? s.port : integerOption('--port', opts.port, 0, 8080);
      const coordinator = await startCoordinatorService(s, log);
      const http = opts.http
        ? await startHttp(
            coordinator,
            { port, prefix: s.prefix, databaseUrl: s.databaseUrl, host: opts.host, insecure: opts.insecure },
            log,
          )
        : null;
      if (http) console.log(`braintune API at ${http.url}`);
      const signal = await untilSignal();
      log.info({ signal }, 'stopping');
      await http?.close();
      await coordinator.stop();
      process.exit(0);
    });
}
