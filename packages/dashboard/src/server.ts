import type { Server } from 'node:http';
import express from 'express';
import { openArtifactStore } from '@braintune/artifacts';
import {
  chooseBinding,
  createApiRouter,
  hostGuard,
  requireReadAccess,
  createRedis,
  defaultStudyFactory,
  migrateDatabase,
  openDatabase,
} from '@braintune/coordinator';
import { createLogger, type Env, type Logger } from '@braintune/protocol';
import { createDashboardRouter, type DashboardRouter } from './router.js';

export interface DashboardServer {
  url: string;
  server: Server;
  dashboard: DashboardRouter;
  close(): Promise<void>;
}

/**
 * `braintune dashboard`: the pages and their API plus the coordinator's REST API (submit,
 * cancel, status need only Postgres), on one port. The coordinator process itself (which
 * schedules and records) runs elsewhere, e.g. `braintune coordinator` or `braintune up`.
 */
export async function startDashboardServer(
  env: Env,
  options: { port?: number; host?: string; insecure?: boolean; logger?: Logger; migrate?: boolean } = {},
): Promise<DashboardServer> {
  const logger = options.logger ?? createLogger('dashboard');
  const binding = chooseBinding({
    host: options.host,
    apiToken: env.BRAINTUNE_API_TOKEN,
    insecure: options.insecure,
  });
  if (options.migrate ?? true) await migrateDatabase(env.DATABASE_URL);
  const database = openDatabase(env.DATABASE_URL, { logger });
  const redis = createRedis(env.REDIS_URL);
  const app = express();
  app.disable('x-powered-by');
  app.use(hostGuard(binding.allowedHostnames));
  app.use(requireReadAccess({ readToken: env.BRAINTUNE_READ_TOKEN, apiToken: env.BRAINTUNE_API_TOKEN }));
  app.use(
    createApiRouter({
      db: database.db,
      studies: defaultStudyFactory,
      logger,
      apiToken: env.BRAINTUNE_API_TOKEN,
    }),
  );
  const dashboard = createDashboardRouter({
    db: database.db,
    databaseUrl: env.DATABASE_URL,
    redis,
    prefix: env.BRAINTUNE_QUEUE_PREFIX,
    artifacts: openArtifactStore(env.ARTIFACT_ROOT),
    apiToken: env.BRAINTUNE_API_TOKEN,
    logger,
  });
  app.use(dashboard);
  const port = options.port ?? env.PORT;
  const host = binding.host;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.on('error', reject);
  });
  const address = server.address();
  const url = `http://${host === '0.0.0.0' ? 'localhost' : host}:${typeof address === 'object' && address ? address.port : port}`;
  logger.info({ url }, 'dashboard listening');
  return {
    url,
    server,
    dashboard,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dashboard.close();
      redis.disconnect();
      await database.close();
    },
  };
}
