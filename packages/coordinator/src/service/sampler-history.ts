import { and, asc, eq, isNotNull, lt, lte } from 'drizzle-orm';
import { NotFoundError } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { trialRungs, trials } from '../db/schema.js';
import { compareObservations, type Observation } from '../scheduling/sampler.js';

/**
 * What the sampler saw when it proposed trial `index` of a study, rebuilt from Postgres: the
 * study's finished, scored rungs whose result sequence number is at most the trial's
 * `history_seq` (both stamped by triggers, see drizzle/0001_sampler_history.sql), and the hashes
 * of the trials created before it. Feeding these to a fresh sampler must give the stored
 * configuration back; tests use it to show that a restarted coordinator proposes what an
 * uninterrupted one would have. Warm-start observations are not included (see warm-start.ts).
 */
export async function proposalInputs(
  db: DbOrTx,
  studyId: string,
  index: number,
): Promise<{ history: Observation[]; tried: Set<string>; historySeq: number }> {
  const [trial] = await db
    .select({ historySeq: trials.historySeq })
    .from(trials)
    .where(and(eq(trials.studyId, studyId), eq(trials.index, index)));
  if (!trial) throw new NotFoundError(`study ${studyId} has no trial ${index}`, 'list its trials first');
  const historySeq = trial.historySeq ?? 0;
  const rows = await db
    .select({
      index: trials.index,
      hyperparameters: trials.hyperparameters,
      rung: trialRungs.rung,
      toEpoch: trialRungs.toEpoch,
      score: trialRungs.score,
      meetsConstraints: trialRungs.meetsConstraints,
    })
    .from(trialRungs)
    .innerJoin(trials, eq(trials.id, trialRungs.trialId))
    .where(
      and(
        eq(trialRungs.studyId, studyId),
        eq(trialRungs.status, 'completed'),
        isNotNull(trialRungs.score),
        lte(trialRungs.resultSeq, historySeq),
      ),
    );
  const history = rows
    .map((r): Observation => ({
      source: '',
      index: r.index,
      rung: r.rung,
      epochs: r.toEpoch,
      hyperparameters: r.hyperparameters,
      score: r.score!,
      meetsConstraints: r.meetsConstraints,
    }))
    .sort(compareObservations);
  const earlier = await db
    .select({ hpHash: trials.hpHash })
    .from(trials)
    .where(and(eq(trials.studyId, studyId), lt(trials.index, index)))
    .orderBy(asc(trials.index));
  return { history, tried: new Set(earlier.map((t) => t.hpHash)), historySeq };
}
