import { asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { NotFoundError, groupBy, type TestSetScores } from '@braintune/protocol';
import { aliasEvents, modelAliases, models, modelVersions, studies, type Db } from '../db/index.js';
import type { Page } from '../read-model/page.js';
import type { EnsembleMember } from './ensemble.js';
import { assertModelName } from './model-ref.js';
import type { VersionMetrics } from './promote-source.js';

/*
 * The registry's catalogue as readers see it (API, dashboard, CLI, prediction): models with
 * their versions, aliases and alias history. Writes (promotion, alias moves) are RegistryService's.
 */

export interface VersionInfo {
  model: string;
  version: number;
  studyId: string | null;
  studyName: string | null;
  trialId: string | null;
  artifactKey: string;
  metrics: VersionMetrics;
  hyperparameters: Record<string, unknown>;
  classes: string[];
  imageSize: number;
  preprocessing: Record<string, unknown>;
  /** External test-set scores of the promoted trial, by name. */
  test: TestSetScores;
  createdAt: string;
  createdBy: string;
  /** Aliases pointing at this version now. */
  aliases: string[];
  /** "ensemble": the version averages the calibrated probabilities of `members`. */
  kind: 'single' | 'ensemble';
  /** Best first; null for a single checkpoint. */
  members: EnsembleMember[] | null;
}

export interface AliasEventInfo {
  alias: string;
  fromVersion: number | null;
  toVersion: number;
  at: string;
  by: string;
  /** The alias moved to an older version than it held. */
  rollback: boolean;
}

export interface ModelInfo {
  name: string;
  description: string;
  createdAt: string;
  /** Newest first. */
  versions: VersionInfo[];
  aliases: Record<string, number>;
  /** Newest first. */
  history: AliasEventInfo[];
}

/** One page of models by name, each with its versions, aliases and alias history; and how many there are. */
export async function listModels(db: Db, page: Page): Promise<{ models: ModelInfo[]; total: number }> {
  const [rows, [count]] = await Promise.all([
    db.select().from(models).orderBy(asc(models.name)).limit(page.limit).offset(page.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(models),
  ]);
  return { models: await describe(db, rows), total: count?.total ?? 0 };
}

export async function getModel(db: Db, name: string): Promise<ModelInfo> {
  assertModelName(name);
  const [m] = await db.select().from(models).where(eq(models.name, name));
  if (!m)
    throw new NotFoundError(
      `no model named ${name}`,
      'promote a trial first (braintune promote STUDY --model NAME)',
    );
  return (await describe(db, [m]))[0]!;
}

/** Three queries for any number of models (not three per model). */
async function describe(db: Db, rows: (typeof models.$inferSelect)[]): Promise<ModelInfo[]> {
  if (rows.length === 0) return [];
  const names = rows.map((m) => m.name);
  const [versions, aliases, history] = await Promise.all([
    db
      .select({ v: modelVersions, studyName: studies.name })
      .from(modelVersions)
      .leftJoin(studies, eq(studies.id, modelVersions.studyId))
      .where(inArray(modelVersions.modelName, names))
      .orderBy(desc(modelVersions.version)),
    db
      .select()
      .from(modelAliases)
      .where(inArray(modelAliases.modelName, names))
      .orderBy(asc(modelAliases.alias)),
    db.select().from(aliasEvents).where(inArray(aliasEvents.modelName, names)).orderBy(desc(aliasEvents.id)),
  ]);
  const versionsOf = groupBy(versions, ({ v }) => v.modelName);
  const aliasesOf = groupBy(aliases, (a) => a.modelName);
  const historyOf = groupBy(history, (h) => h.modelName);
  return rows.map((m) => {
    const own = aliasesOf.get(m.name) ?? [];
    return {
      name: m.name,
      description: m.description,
      createdAt: m.createdAt.toISOString(),
      versions: (versionsOf.get(m.name) ?? []).map(({ v, studyName }) =>
        toVersionInfo(
          v,
          studyName,
          own.filter((a) => a.version === v.version).map((a) => a.alias),
        ),
      ),
      aliases: Object.fromEntries(own.map((a) => [a.alias, a.version])),
      history: (historyOf.get(m.name) ?? []).map((h) => ({
        alias: h.alias,
        fromVersion: h.fromVersion,
        toVersion: h.toVersion,
        at: h.at.toISOString(),
        by: h.by,
        rollback: h.fromVersion !== null && h.toVersion < h.fromVersion,
      })),
    };
  });
}

function toVersionInfo(
  v: typeof modelVersions.$inferSelect,
  studyName: string | null,
  aliases: string[],
): VersionInfo {
  return {
    model: v.modelName,
    version: v.version,
    studyId: v.studyId,
    studyName,
    trialId: v.trialId,
    artifactKey: v.artifactKey,
    metrics: v.metrics as unknown as VersionMetrics,
    hyperparameters: v.hyperparameters,
    classes: v.classes,
    imageSize: v.imageSize,
    preprocessing: v.preprocessing,
    test: v.testScores ?? {},
    createdAt: v.createdAt.toISOString(),
    createdBy: v.createdBy,
    aliases,
    kind: v.members === null ? 'single' : 'ensemble',
    members: v.members,
  };
}
