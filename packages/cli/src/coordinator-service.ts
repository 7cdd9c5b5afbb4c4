import { Coordinator, defaultStudyFactory } from '@braintune/coordinator';
import type { Logger } from '@braintune/protocol';
import type { clusterSettings } from './api-client.js';
import { requireServices } from './preflight.js';

/** Runs migrations and starts the coordinator loop with the cluster's environment (`braintune up` / `coordinator`). */
export async function startCoordinatorService(
  settings: ReturnType<typeof clusterSettings>,
  logger: Logger,
): Promise<Coordinator> {
  await requireServices({
    redisUrl: settings.redisUrl,
    databaseUrl: settings.databaseUrl,
    artifactRoot: settings.artifactRoot,
  });
  return Coordinator.start({
    databaseUrl: settings.databaseUrl,
    redisUrl: settings.redisUrl,
    prefix: settings.prefix,
    artifactRoot: settings.artifactRoot,
    studies: defaultStudyFactory,
    logger,
  });
}
