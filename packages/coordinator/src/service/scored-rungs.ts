import { and, eq, isNotNull, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { trialRungs, trials } from '../db/schema.js';
import { compareObservations, type Observation } from '../scheduling/sampler.js';

/**
 * Finished, scored rungs matching `filter` as sampler observations, in canonical order: what a
 * sampler learns from, whether the rungs are the study's own (sampler-history.ts) or an
 * earlier study's (warm-start.ts). `ownStudy` leaves `source` empty, as a study's own
 * observations carry no source.
 */
export async function scoredRungObservations(
  db: DbOrTx,
  filter: SQL | undefined,
  options: { ownStudy: boolean },
): Promise<Observation[]> {
  const rows = await db
    .select({
      studyId: trials.studyId,
      index: trials.index,
      hyperparameters: trials.hyperparameters,
      rung: trialRungs.rung,
      toEpoch: trialRungs.toEpoch,
      score: trialRungs.score,
      meetsConstraints: trialRungs.meetsConstraints,
    })
    .from(trialRungs)
    .innerJoin(trials, eq(trials.id, trialRungs.trialId))
    .where(and(filter, eq(trialRungs.status, 'completed'), isNotNull(trialRungs.score)));
  return rows
    .map((r): Observation => ({
      source: options.ownStudy ? '' : r.studyId,
      index: r.index,
      rung: r.rung,
      epochs: r.toEpoch,
      hyperparameters: r.hyperparameters,
      score: r.score!,
      meetsConstraints: r.meetsConstraints,
    }))
    .sort(compareObservations);
}
