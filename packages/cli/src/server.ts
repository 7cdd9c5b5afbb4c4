import type { Server } from 'node:http';
import express, { type RequestHandler } from 'express';
import { createApiRouter, defaultStudyFactory, sendError, type Coordinator } from '@braintune/coordinator';
import { NotFoundError, type Logger } from '@braintune/protocol';

/** What `braintune up` / `braintune coordinator` hand to the dashboard's router factory, when it exports one. */
export interface DashboardDeps {
  coordinator: Coordinator;
  databaseUrl: string;
  db: Coordinator['db'];
  store: Coordinator['store'];
  redis: Coordinator['redis'];
  trialQueue: Coordinator['trialQueue']['queue'];
  prefix: string;
  logger: Logger;
}

type DashboardHandler = RequestHandler & { close?: () => Promise<void> };
type DashboardFactory = (deps: DashboardDeps) => DashboardHandler | Promise<DashboardHandler>;

async function loadDashboard(deps: DashboardDeps): Promise<DashboardHandler | null> {
  try {
    const mod = (await import('@braintune/dashboard')) as Record<string, unknown>;
    const factory = mod.createDashboardRouter;
    if (typeof factory !== 'function') return null;
    return await (factory as DashboardFactory)(deps);
  } catch (err) {
    deps.logger.warn({ err }, 'dashboard not mounted');
    return null;
  }
}

/** One express app: the REST API, plus the dashboard when @braintune/dashboard provides a router. */
export interface HttpHandle {
  server: Server;
  url: string;
  dashboard: boolean;
  close(): Promise<void>;
}

export async function startHttp(
  coordinator: Coordinator,
  settings: { port: number; prefix: string; databaseUrl: string },
  logger: Logger,
): Promise<HttpHandle> {
  const { port, prefix, databaseUrl } = settings;
  const app = express();
  app.disable('x-powered-by');
  app.use(createApiRouter({ db: coordinator.db, studies: defaultStudyFactory, logger }));
  const dashboard = await loadDashboard({
    coordinator,
    databaseUrl,
    db: coordinator.db,
    store: coordinator.store,
    redis: coordinator.redis,
    trialQueue: coordinator.trialQueue.queue,
    prefix,
    logger,
  });
  if (dashboard) app.use(dashboard);
  app.use('/api', (req, res) =>
    sendError(
      res,
      new NotFoundError(`no API route ${req.method} ${req.originalUrl}`, 'see GET /api/openapi.json'),
    ),
  );
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, () => resolve(s));
    s.on('error', reject);
  });
  return {
    server,
    url: `http://localhost:${port}`,
    dashboard: dashboard !== null,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dashboard?.close?.();
    },
  };
}

export { untilSignal } from './signals.js';
