import { z } from 'zod';
import { InvalidInputError, createLogger, type Logger } from '@braintune/protocol';
import type { StudyFactory } from './study-definition.js';

const ms = z.number().int().positive();
const count = z.number().int().positive();

/** Every coordinator setting and its default, checked once at start. */
export const CoordinatorOptionsSchema = z.object({
  databaseUrl: z.string().min(1),
  redisUrl: z.string().min(1),
  /** Key prefix of the BullMQ queues (tests isolate with their own). */
  prefix: z.string().min(1),
  artifactRoot: z.string().min(1),
  studies: z.custom<StudyFactory>(
    (v) => typeof v === 'object' && v !== null && typeof (v as { parse?: unknown }).parse === 'function',
    'expected a StudyFactory (an object with parse())',
  ),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null, 'expected a pino logger').optional(),
  /** How often running studies are offered idle capacity and new/cancelled studies are noticed (ms). */
  tickMs: ms.default(1000),
  /** How often Postgres is reconciled against Redis (ms). */
  reconcileMs: ms.default(10_000),
  /** How often worker heartbeats are mirrored into Postgres (ms). */
  workersMs: ms.default(2000),
  /** Rungs queued beyond the online workers' capacity, so a worker never waits for the coordinator. */
  prefetch: z.number().int().nonnegative().default(2),
  /**
   * Worker events held at once (read off the results streams, not yet committed). Events wait
   * in memory while the previous batch commits, so this bounds how much one transaction can
   * gather: keep it at least twice `resultsBatch`.
   */
  resultsConcurrency: count.default(256),
  /** Most worker events recorded in one Postgres transaction (group commit). */
  resultsBatch: count.default(128),
  /** Apply migrations on start. */
  migrate: z.boolean().default(true),
  /** Attempts per trial rung before it is recorded as failed. */
  jobAttempts: count.default(3),
  /** Data sets prepared at once: each reads and decodes a whole tree. */
  maxPreparations: count.default(2),
});

export type CoordinatorOptions = z.input<typeof CoordinatorOptionsSchema>;
export type ResolvedOptions = Omit<z.output<typeof CoordinatorOptionsSchema>, 'logger'> & { logger: Logger };

/** Applies the defaults; a wrong setting fails here, naming it, rather than deep inside a loop. */
export function resolveOptions(input: CoordinatorOptions): ResolvedOptions {
  const parsed = CoordinatorOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`);
    throw new InvalidInputError(
      `invalid coordinator options: ${problems.join('; ')}`,
      'fix the named settings (see CoordinatorOptionsSchema in packages/coordinator/src/service/options.ts)',
    );
  }
  return { ...parsed.data, logger: parsed.data.logger ?? createLogger('coordinator') };
}
