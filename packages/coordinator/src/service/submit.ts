import { randomBytes } from 'node:crypto';
import { eq, inArray, and, sql } from 'drizzle-orm';
import { BraintuneError, NotFoundError, resolveDataPath, type DataPathOptions } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { studies } from '../db/schema.js';
import { EVENTS_CHANNEL } from './coordinator.js';
import { planWarning } from './end-reason.js';
import { StudyConfigError } from '../study/problems.js';
import { pinBaseModelAliases } from './pin-base-models.js';
import type { StudyFactory } from './study-definition.js';
import { warmStartProblems } from './warm-start.js';

export interface SubmittedStudy {
  studyId: string;
  plannedRungs: number | null;
  distinctConfigurations: number | null;
  plannedTrials: number | null;
  warning: string | null;
}

/** Study ids: short, URL- and artifact-key-safe, no ':' (trial ids append `:<index>`). */
export function newStudyId(): string {
  return `st-${randomBytes(5).toString('hex')}`;
}

/**
 * Validates and stores a study in state `preparing`. The coordinator notices it (within a
 * tick), prepares the dataset and starts scheduling, so submission needs only Postgres
 * and works from any process that mounts the API.
 */
export async function submitStudy(
  db: DbOrTx,
  factory: StudyFactory,
  input: string | object,
  dataPaths: DataPathOptions = {},
): Promise<SubmittedStudy> {
  let def = factory.parse(input); // invalid configs fail here, before any query
  const pinned = await pinBaseModelAliases(db, input);
  if (pinned !== input) {
    input = pinned;
    def = factory.parse(input);
  }
  const warmStart = await warmStartProblems(db, def.config);
  if (warmStart.length > 0) throw new StudyConfigError(warmStart);
  // Refused here (a 400 naming the allowed roots) rather than as a failed study, so a client
  // learns nothing about the filesystem outside the data roots.
  await resolveDataPath(def.dataset.path, { ...dataPaths, field: 'dataset.path' });
  for (const [i, testSet] of def.testSets.entries())
    await resolveDataPath(testSet.path, { ...dataPaths, field: `evaluation.testSets[${i}].path` });
  // Stored as the user sent it (text becomes {yaml: text}) so a restart re-validates the same input.
  const source = typeof input === 'string' ? { yaml: input } : input;
  const scheduler = def.createScheduler();
  const plannedRungs = scheduler.plannedRungs();
  const id = newStudyId();
  await db
    .insert(studies)
    .values({ id, name: def.name, config: def.config, source, state: 'preparing', plannedRungs });
  await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${id})`);
  return {
    studyId: id,
    plannedRungs,
    distinctConfigurations: def.distinctConfigurations?.() ?? null,
    plannedTrials: scheduler.plannedTrials?.() ?? null,
    warning: planWarning(def, scheduler),
  };
}

export class ConflictError extends BraintuneError {
  constructor(message: string, hint?: string) {
    super(message, 'conflict', hint);
  }
}

/**
 * Marks a study cancelled. The coordinator then removes its waiting jobs and flags it in
 * Redis so running rungs stop after their current epoch.
 */
export async function cancelStudy(db: DbOrTx, studyId: string): Promise<void> {
  const updated = await db
    .update(studies)
    .set({ state: 'cancelled', finishedAt: new Date(), updatedAt: new Date() })
    .where(and(eq(studies.id, studyId), inArray(studies.state, ['preparing', 'running'])))
    .returning({ id: studies.id });
  if (updated.length === 0) {
    const [study] = await db.select({ state: studies.state }).from(studies).where(eq(studies.id, studyId));
    if (!study) throw new NotFoundError(`no study ${studyId}`, 'list studies with GET /api/studies');
    throw new ConflictError(
      `study ${studyId} is already ${study.state}`,
      'only queued or running studies can be cancelled',
    );
  }
  await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${studyId})`);
}
