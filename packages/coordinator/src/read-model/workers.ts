import { asc, sql } from 'drizzle-orm';
import { WORKER_TTL_MS } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { workers } from '../db/schema.js';
import type { Page } from './page.js';
import { isoOrNull } from './study-summary.js';

/** Workers by id, one page at a time, with the total for the paging headers. */
export async function listWorkers(
  db: DbOrTx,
  onlineWithinMs = WORKER_TTL_MS,
  page: Page = { limit: 1000, offset: 0 },
) {
  const [rows, [{ total } = { total: 0 }]] = await Promise.all([
    db.select().from(workers).orderBy(asc(workers.id)).limit(page.limit).offset(page.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(workers),
  ]);
  const now = Date.now();
  return {
    rows: rows.map((w) => ({
      ...w,
      startedAt: isoOrNull(w.startedAt),
      lastHeartbeat: w.lastHeartbeat.toISOString(),
      online: now - w.lastHeartbeat.getTime() <= onlineWithinMs,
    })),
    total,
  };
}
