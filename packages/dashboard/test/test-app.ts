import type { Server } from 'node:http';
import express from 'express';
import type { ArtifactStore } from '@braintune/artifacts';
import { createApiRouter, createRedis, defaultStudyFactory, type Db } from '@braintune/coordinator';
import { createDashboardRouter } from '../src/index.js';
import { clearRedisPrefix } from './fixtures.js';

/** The app `braintune up` serves (the coordinator's API router, then the dashboard's) on a free port. */
export interface TestApp {
  app: express.Express;
  base: string;
  close(): Promise<void>;
}

export async function startTestApp(options: {
  db: Db;
  databaseUrl: string;
  artifacts: ArtifactStore;
  /** Redis URL with its database index; the queue prefix's keys are removed on close. */
  redisUrl: string;
  prefix: string;
  apiToken?: string;
}): Promise<TestApp> {
  const redis = createRedis(options.redisUrl);
  // Without a token of their own the routers read BRAINTUNE_API_TOKEN, as `braintune up` does.
  const token = options.apiToken !== undefined ? { apiToken: options.apiToken } : {};
  const app = express();
  app.use(createApiRouter({ db: options.db, studies: defaultStudyFactory, ...token }));
  const dashboard = createDashboardRouter({
    db: options.db,
    databaseUrl: options.databaseUrl,
    redis,
    prefix: options.prefix,
    artifacts: options.artifacts,
    ...token,
  });
  app.use(dashboard);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  return {
    app,
    base: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dashboard.close();
      redis.disconnect();
      await clearRedisPrefix(options.redisUrl, options.prefix);
    },
  };
}
