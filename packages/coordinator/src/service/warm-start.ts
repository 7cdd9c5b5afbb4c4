import { inArray } from 'drizzle-orm';
import { z } from 'zod';
import type { DatasetRef } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { studies, trialRungs } from '../db/schema.js';
import type { Observation } from '../scheduling/sampler.js';
import { scoredRungObservations } from './scored-rungs.js';

/**
 * Warm start (`warmStart: {studies: [id, …]}`): the finished rungs of earlier studies become
 * observations of the new study's sampler. They are only comparable when the studies searched the
 * same space, ranked by the same objective and constraints, and trained on the same data set
 * bundles; anything else is refused with the names of what differs. Source studies must have
 * ended, so their results — and therefore every proposal — never change after the start.
 */

const ConfigView = z.object({
  searchSpace: z.record(z.string(), z.unknown()).default({}),
  objective: z.unknown(),
  constraints: z.unknown(),
  warmStart: z.object({ studies: z.array(z.string()) }).optional(),
});

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** Names of the hyperparameters whose range differs between two normalised search spaces. */
export function differingParameters(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return names.filter((name) => canonical(a[name]) !== canonical(b[name]));
}

/** The warm-start study ids of a normalised config (empty when it has none). */
export function warmStartIds(config: Record<string, unknown>): string[] {
  return ConfigView.parse(config).warmStart?.studies ?? [];
}

/**
 * Everything wrong with a config's warm start, one line per problem (empty: fine). With
 * `datasets` (the new study's prepared bundles) the data set hashes are compared as well.
 */
export async function warmStartProblems(
  db: DbOrTx,
  config: Record<string, unknown>,
  datasets?: readonly DatasetRef[],
): Promise<string[]> {
  const view = ConfigView.parse(config);
  const ids = view.warmStart?.studies ?? [];
  if (ids.length === 0) return [];
  const rows = await db.select().from(studies).where(inArray(studies.id, ids));
  const problems: string[] = [];
  for (const [i, id] of ids.entries()) {
    const at = `warmStart.studies[${i}]`;
    const row = rows.find((r) => r.id === id);
    if (!row) {
      problems.push(`${at}: no study ${id}; list studies with GET /api/studies`);
      continue;
    }
    if (row.state === 'preparing' || row.state === 'running') {
      problems.push(`${at}: study ${id} is still ${row.state}; warm-start from studies that have ended`);
      continue;
    }
    const other = ConfigView.parse(row.config);
    const differing = differingParameters(view.searchSpace, other.searchSpace);
    if (differing.length > 0)
      problems.push(
        `${at}: study ${id} searched a different space; these parameters differ: ${differing.join(', ')} (warm start needs the same search space)`,
      );
    if (
      canonical(view.objective) !== canonical(other.objective) ||
      canonical(view.constraints) !== canonical(other.constraints)
    )
      problems.push(
        `${at}: study ${id} ranked trials by a different objective or constraints; use the same ones`,
      );
    if (datasets) {
      const mine = datasets.map((d) => d.hash).sort();
      const theirs = (row.datasets ?? []).map((d) => d.hash).sort();
      if (canonical(mine) !== canonical(theirs))
        problems.push(
          `${at}: study ${id} trained on data set bundle ${theirs.map((h) => h.slice(0, 12)).join(', ') || '(none)'}, this study on ${mine.map((h) => h.slice(0, 12)).join(', ')}; warm start needs the same data and split`,
        );
    }
  }
  return problems;
}

/** The finished, scored rungs of the source studies as sampler observations, in canonical order. */
export async function loadWarmStart(db: DbOrTx, ids: readonly string[]): Promise<Observation[]> {
  if (ids.length === 0) return [];
  return scoredRungObservations(db, inArray(trialRungs.studyId, [...ids]), { ownStudy: false });
}
