import { Coordinator, defaultStudyFactory } from '@braintune/coordinator';
import type { Logger } from '@braintune/protocol';
import type { clusterSettings } from './api-client.js';

/** Runs migrations and starts the coordinator loop with the cluster's environment (`braintune up` / `coordinator`). */
export function startCoordinatorService(
  settings: ReturnType<typeof clusterSettings>,
  logger: Logger,
): Promise<Coordinator> {
  return Coordinator.start({
    databaseUrl: settings.databaseUrl,
    redisUrl: settings.redisUrl,
    prefix: settings.prefix,
    artifactRoot: settings.artifactRoot,
    studies: defaultStudyFactory,
    logger,
  });
}
