import type { Command } from 'commander';
import { createLogger } from '@braintune/protocol';
import { clusterSettings } from '../api-client.js';
import { integerOption } from '../options.js';
import { parentGone } from '../parent-watch.js';
import { requireServices } from '../preflight.js';
import { untilSignal } from '../signals.js';

interface WorkerFlags {
  concurrency: string;
  lockMs: string;
  stalledIntervalMs: string;
  preparations: string;
}

/**
 * `braintune worker [--concurrency 1] [--preparations 1]`: trains trial rungs from the queue and
 * prepares studies' data sets (reading them from BRAINTUNE_DATA_ROOTS). Needs REDIS_URL and
 * ARTIFACT_ROOT only. SIGTERM/SIGINT: the rung in progress stops after its epoch (checkpointed)
 * and goes back to the queue, then the process exits 0.
 */
export function register(program: Command): void {
  program
    .command('worker')
    .description('train trial rungs from the queue (needs Redis and the artifact store, not Postgres)')
    .option('--concurrency <n>', 'rungs trained at once by this process', '1')
    .option(
      '--lock-ms <ms>',
      'job lock duration (renewed from a separate thread); a killed worker is noticed after about this long',
      '30000',
    )
    .option('--stalled-interval-ms <ms>', 'how often this worker looks for jobs of dead workers', '30000')
    .option(
      '--preparations <n>',
      'data set preparations run at once by this process (0: leave preparation to other workers)',
      '1',
    )
    .action(async (opts: WorkerFlags) => {
      // Shown by ps/top: worker processes are recognisable whichever entry point started them.
      process.title = 'braintune worker';
      // Watched from the start: a parent that dies while we still load must not leave us behind.
      const orphaned = parentGone();
      let started = false;
      void orphaned?.then(() => started || process.exit(1));
      const s = clusterSettings();
      const preparations = integerOption('--preparations', opts.preparations, 0, 1);
      const log = createLogger('worker');
      await requireServices({ redisUrl: s.redisUrl, artifactRoot: s.artifactRoot });
      // Loaded after the check: TensorFlow takes seconds to load, a wrong URL should not.
      const [{ openArtifactStore }, { ModelCoreTrainer, ModelCorePreparer, startWorker }] = await Promise.all(
        [import('@braintune/artifacts'), import('@braintune/worker')],
      );
      const store = openArtifactStore(s.artifactRoot);
      const worker = await startWorker({
        redisUrl: s.redisUrl,
        prefix: s.prefix,
        trainer: new ModelCoreTrainer(store),
        ...(preparations > 0 ? { preparer: new ModelCorePreparer(store), preparations } : {}),
        concurrency: integerOption('--concurrency', opts.concurrency, 1, 1),
        lockDurationMs: integerOption('--lock-ms', opts.lockMs, 1, 30000),
        stalledIntervalMs: integerOption('--stalled-interval-ms', opts.stalledIntervalMs, 1, 30000),
        logger: log,
      });
      started = true;
      const signal = await Promise.race([untilSignal(), ...(orphaned ? [orphaned] : [])]);
      if (signal === 'parent-gone') {
        // Nobody will restart or stop us: hand the rung back, but never outlive the parent by long.
        log.warn({ workerId: worker.id }, 'the braintune up process is gone; stopping');
        setTimeout(() => process.exit(1), 5000).unref();
      } else log.info({ signal, workerId: worker.id }, 'stopping after the current epoch');
      await worker.close();
      process.exit(signal === 'parent-gone' ? 1 : 0);
    });
}
