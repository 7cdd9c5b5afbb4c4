import { and, asc, eq, lt, lte } from 'drizzle-orm';
import { NotFoundError } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { trialRungs, trials } from '../db/schema.js';
import type { Observation } from '../scheduling/sampler.js';
import { scoredRungObservations } from './scored-rungs.js';

/**
 * What the sampler saw when it proposed trial `index` of a study, rebuilt from Postgres: the
 * study's finished, scored rungs whose result sequence number is at most the trial's
 * `history_seq` (both stamped by triggers, see drizzle/0004_sampler_history.sql), and the hashes
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
  const history = await scoredRungObservations(
    db,
    and(eq(trialRungs.studyId, studyId), lte(trialRungs.resultSeq, historySeq)),
    { ownStudy: true },
  );
  const earlier = await db
    .select({ hpHash: trials.hpHash })
    .from(trials)
    .where(and(eq(trials.studyId, studyId), lt(trials.index, index)))
    .orderBy(asc(trials.index));
  return { history, tried: new Set(earlier.map((t) => t.hpHash)), historySeq };
}
