import { and, asc, eq, gt } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { trials } from '../db/schema.js';

/** Nested hyperparameters as one level (`augmentation.flip`). */
export function flattenHyperparameters(hp: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hp)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      Object.assign(out, flattenHyperparameters(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

interface VaryingState {
  /** Trials looked at (a trial's hyperparameters never change) and the largest index among them. */
  seen: Set<number>;
  seenIndex: number;
  /** The first value seen of each key (JSON), and the keys seen with a second value. */
  first: Map<string, string>;
  varying: Set<string>;
}

/** Per database (tests open several with the same study ids), per study. */
const cache = new WeakMap<object, Map<string, VaryingState>>();
const STUDIES_KEPT = 64;
/** Trials are created in index order, but concurrent inserts may commit a little out of it. */
const REREAD_TAIL = 256;

/**
 * The hyperparameters that vary across a study's trials (the leaderboard's columns), kept up
 * to date incrementally: each call reads only the trials created since the last one, so a
 * 10,000-trial study is read once, not on every live update.
 */
export async function varyingHyperparameters(db: DbOrTx, studyId: string): Promise<string[]> {
  let perStudy = cache.get(db);
  if (!perStudy) cache.set(db, (perStudy = new Map()));
  let state = perStudy.get(studyId);
  if (!state) {
    if (perStudy.size >= STUDIES_KEPT) perStudy.delete(perStudy.keys().next().value!);
    perStudy.set(studyId, (state = { seen: new Set(), seenIndex: -1, first: new Map(), varying: new Set() }));
  }
  const rows = await db
    .select({ index: trials.index, hyperparameters: trials.hyperparameters })
    .from(trials)
    .where(and(eq(trials.studyId, studyId), gt(trials.index, state.seenIndex - REREAD_TAIL)))
    .orderBy(asc(trials.index));
  for (const row of rows) {
    if (state.seen.has(row.index)) continue;
    const flat = flattenHyperparameters(row.hyperparameters as unknown as Record<string, unknown>);
    for (const [key, value] of Object.entries(flat)) {
      const json = JSON.stringify(value);
      const first = state.first.get(key);
      if (first === undefined) {
        // A key missing from earlier trials varies (undefined there, a value here).
        if (state.seen.size > 0) state.varying.add(key);
        state.first.set(key, json);
      } else if (first !== json) state.varying.add(key);
    }
    for (const key of state.first.keys()) if (!(key in flat)) state.varying.add(key);
    state.seen.add(row.index);
    state.seenIndex = Math.max(state.seenIndex, row.index);
  }
  return [...state.varying].sort();
}
