import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';

export interface BracketView {
  label: string;
  rungs: {
    rung: number;
    toEpoch: number;
    /** Trials that reached the rung; `trials` lists the best `BRACKET_TRIALS_SHOWN` of them. */
    count: number;
    trials: { trialId: string; index: number; state: string; score: number | null }[];
  }[];
}

/** Dots drawn per rung: beyond a few hundred a picture says no more, and the payload grows. */
export const BRACKET_TRIALS_SHOWN = 200;

type RungDot = {
  trial_id: string;
  index: number;
  bracket: number | null;
  iteration: number | null;
  rung: number;
  to_epoch: number;
  rung_to_epoch: number;
  state: string;
  score: number | null;
  count: number;
};

/**
 * The successive-halving picture: for each bracket (Hyperband) or the single ladder
 * (ASHA / random), every rung with the trials that reached it, each marked promoted (it went
 * on to the next rung), stopped, completed (a rung at the study's longest budget), running,
 * queued or failed. Postgres groups, classifies and keeps the best few per rung.
 */
export async function studyBrackets(db: DbOrTx, studyId: string, scheduler: string): Promise<BracketView[]> {
  const { rows } = await db.execute<RungDot>(sql`
    WITH r AS (
      SELECT r.trial_id, r.rung, r.to_epoch, r.status, r.score, t.index, t.bracket, t.iteration,
             t.status AS trial_status,
             -- A promotion queues the next rung and moves current_rung in one statement.
             t.current_rung AS max_rung,
             max(r.to_epoch) OVER () AS top_epoch
        FROM trial_rungs r JOIN trials t ON t.id = r.trial_id
       WHERE r.study_id = ${studyId}
    ), classified AS (
      SELECT *,
             CASE
               WHEN status = 'completed' AND max_rung > rung THEN 'promoted'
               WHEN status = 'completed' AND to_epoch < top_epoch AND trial_status IN ('stopped', 'cancelled') THEN 'stopped'
               WHEN status = 'cancelled' THEN 'stopped'
               ELSE status
             END AS state,
             row_number() OVER w AS pos,
             count(*) OVER (PARTITION BY iteration, bracket, rung)::int AS count,
             max(to_epoch) OVER (PARTITION BY iteration, bracket, rung) AS rung_to_epoch
        FROM r
      WINDOW w AS (PARTITION BY iteration, bracket, rung ORDER BY score DESC NULLS LAST, index)
    )
    SELECT trial_id, index, bracket, iteration, rung, to_epoch, rung_to_epoch, state, score, count
      FROM classified
     WHERE pos <= ${BRACKET_TRIALS_SHOWN}
     ORDER BY coalesce(iteration, 0), -coalesce(bracket, 0), rung, pos`);
  const groups = new Map<string, BracketView>();
  for (const d of rows) {
    const key = d.bracket === null ? 'all' : `${d.iteration ?? 0}:${d.bracket}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { label: bracketLabel(d, scheduler), rungs: [] }));
    let rung = group.rungs.at(-1);
    if (rung?.rung !== d.rung) {
      rung = { rung: d.rung, toEpoch: d.rung_to_epoch, count: d.count, trials: [] };
      group.rungs.push(rung);
    }
    rung.trials.push({ trialId: d.trial_id, index: d.index, state: d.state, score: d.score });
  }
  return [...groups.values()];
}

function bracketLabel(d: Pick<RungDot, 'bracket' | 'iteration'>, scheduler: string): string {
  if (d.bracket === null) return scheduler === 'random' ? 'Random search' : 'ASHA rungs';
  return `${(d.iteration ?? 0) > 0 ? `iteration ${d.iteration} · ` : ''}bracket ${d.bracket}`;
}
