import { sql, type SQL } from 'drizzle-orm';
import { trials } from '../db/schema.js';

/**
 * The leaderboard order in SQL: the twin of `compareTrials` (study/objective.ts), so Postgres
 * ranks a 10,000-trial study and pages through it without the rows leaving the database.
 * `ranking.test.ts` checks that both orders agree.
 */
export function trialRankOrder(): SQL[] {
  return [
    sql`${trials.score} IS NULL`,
    sql`${trials.meetsConstraints} IS TRUE DESC`,
    sql`${trials.score} DESC NULLS LAST`,
    sql`${trials.epochsDone} DESC NULLS LAST`,
    sql`${trials.index} ASC`,
  ];
}

/** A trial's 1-based place in its study's leaderboard (a window over the study's trials). */
export function trialRankSql(): SQL<number> {
  return sql<number>`(row_number() over (order by ${sql.join(trialRankOrder(), sql`, `)}))::int`;
}
