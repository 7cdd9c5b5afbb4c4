import { sql } from 'drizzle-orm';

/*
 * Parameters of the batch statements (recorder, decision writes): a whole batch travels as one
 * parameter, so the statement text never changes with the batch size.
 */

/** Rows as one jsonb parameter, unpacked by `jsonb_to_recordset`. */
export const jsonParam = (value: unknown) => sql`${JSON.stringify(value)}::jsonb`;

/**
 * Keys as one text[] parameter (duplicates dropped). Joined with a recordset alone, the planner
 * guesses 100 rows and scans whole tables; `key = ANY(…)` lets it use the unique indexes.
 */
export const textArrayParam = (values: readonly string[]) => sql`${sql.param([...new Set(values)])}::text[]`;
