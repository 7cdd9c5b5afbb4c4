import type { Command } from 'commander';
import { openArtifactStore } from '@braintune/artifacts';
import { InvalidInputError, createLogger } from '@braintune/protocol';
import { ModelCoreTrainer, startWorker } from '@braintune/worker';
import { clusterSettings } from '../api-client.js';
import { untilSignal } from '../server.js';

function positiveInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidInputError(`${flag} must be a positive integer, got "${raw}"`);
  return n;
}

/**
 * `braintune worker [--concurrency 1]`: trains trial rungs from the queue. Needs REDIS_URL and
 * ARTIFACT_ROOT only. SIGTERM/SIGINT: the rung in progress stops after its epoch (checkpointed)
 * and goes back to the queue, then the process exits 0.
 */
export function register(program: Command): void {
  program
    .command('worker')
    .description('train trial rungs from the queue (needs Redis and the artifact store, not Postgres)')
    .option('--concurrency <n>', 'rungs trained at once by this process', '1')
    .option('--lock-ms <ms>', 'job lock duration (renewed from a separate thread); a killed worker is noticed after about this long', '30000')
    .option('--stalled-interval-ms <ms>', 'how often this worker looks for jobs of dead workers', '30000')
    .action(async (opts: { concurrency: string; lockMs: string; stalledIntervalMs: string }) => {
      // Shown by ps/top: worker processes are recognisable whichever entry point started them.
      process.title = 'braintune worker';
      const s = clusterSettings();
      const log = createLogger('worker');
      const worker = await startWorker({
        redisUrl: s.redisUrl,
        prefix: s.prefix,
        trainer: new ModelCoreTrainer(openArtifactStore(s.artifactRoot)),
        concurrency: positiveInt('--concurrency', opts.concurrency),
        lockDurationMs: positiveInt('--lock-ms', opts.lockMs),
        stalledIntervalMs: positiveInt('--stalled-interval-ms', opts.stalledIntervalMs),
        logger: log,
      });
      const signal = await untilSignal();
      log.info({ signal, workerId: worker.id }, 'stopping after the current epoch');
      await worker.close();
      process.exit(0);
    });
}
