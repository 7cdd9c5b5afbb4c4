import type { Server } from 'node:http';
import express, { type RequestHandler } from 'express';
import {
  chooseBinding,
  createApiRouter,
  defaultStudyFactory,
  hostGuard,
  requireReadAccess,
  sendError,
  type Coordinator,
} from '@braintune/coordinator';
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

/** `--host` and `--insecure` of the commands that serve HTTP. */
export interface BindOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string | undefined;
  /** Allow a non-loopback address without BRAINTUNE_API_TOKEN. */
  insecure?: boolean | undefined;
}

/** Fails fast (before anything starts) when the binding would be refused. */
export function checkBinding(options: BindOptions): void {
  chooseBinding({ ...options, apiToken: process.env.BRAINTUNE_API_TOKEN || undefined });
}

export async function startHttp(
  coordinator: Coordinator,
  settings: { port: number; prefix: string; databaseUrl: string } & BindOptions,
  logger: Logger,
): Promise<HttpHandle> {
  const { port, prefix, databaseUrl } = settings;
  const apiToken = process.env.BRAINTUNE_API_TOKEN || undefined;
  const binding = chooseBinding({ host: settings.host, apiToken, insecure: settings.insecure });
  const app = express();
  app.disable('x-powered-by');
  app.use(hostGuard(binding.allowedHostnames));
  app.use(requireReadAccess({ readToken: process.env.BRAINTUNE_READ_TOKEN || undefined, apiToken }));
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
    const s = app.listen(port, binding.host, () => resolve(s));
    s.on('error', reject);
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const shownHost =
    binding.allowedHostnames !== null || binding.host === '0.0.0.0' || binding.host === '::'
      ? 'localhost'
      : binding.host.includes(':')
        ? `[${binding.host}]`
        : binding.host;
  return {
    server,
    url: `http://${shownHost}:${bound}`,
    dashboard: dashboard !== null,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dashboard?.close?.();
    },
  };
}

export { untilSignal } from './signals.js';
