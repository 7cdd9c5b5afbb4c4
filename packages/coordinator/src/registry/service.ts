import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { ArtifactStore } from '@braintune/artifacts';
import {
  InvalidInputError,
  NotFoundError,
  groupBy,
  type Logger,
  type TestSetScores,
} from '@braintune/protocol';
import {
  aliasEvents,
  modelAliases,
  models,
  modelVersions,
  studies,
  type Db,
  type DbOrTx,
} from '../db/index.js';
import {
  copySources,
  ensembleVersionRow,
  singleVersionRow,
  MAX_ENSEMBLE,
  type EnsembleMember,
  type VersionRow,
} from './ensemble.js';
import {
  promoteSource,
  rankedTrialIds,
  requireStudy,
  type PromoteSource,
  type VersionMetrics,
} from './promote-source.js';
import type { Page } from '../read-model/page.js';

export type { VersionMetrics } from './promote-source.js';
export type { EnsembleMember } from './ensemble.js';
import { assertAlias, assertModelName, formatModelRef, parseModelRef, type ModelRef } from './model-ref.js';

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

export interface PromoteInput {
  studyId: string;
  /** Default: the study's best completed trial (constraints met first, then the objective). */
  trialId?: string | undefined;
  /** Promote the study's K best trials as one ensemble version (K ≥ 2; 1 = the best trial). */
  top?: number | undefined;
  model: string;
  alias?: string | undefined;
  by: string;
}

export interface PromoteResult {
  model: string;
  version: number;
  trialId: string;
  studyId: string;
  artifactKey: string;
  alias: string | null;
  /** Trial ids of an ensemble's members, best first; null for a single checkpoint. */
  members: string[] | null;
}

export function registryKey(model: string, version: number): string {
  return `registry/${model}/v${version}`;
}

/**
 * The model registry: immutable versions copied from trial checkpoints, movable aliases,
 * and the history of every alias move. Postgres holds the catalogue, the artifact store
 * the files (`registry/<model>/v<N>/`, same layout as a checkpoint directory).
 */
export class RegistryService {
  constructor(
    private readonly db: Db,
    private readonly artifacts: ArtifactStore,
    private readonly logger?: Logger,
  ) {}

  /** The trial `promote` picks when none is named. */
  async bestTrialId(studyId: string): Promise<string | null> {
    return (await rankedTrialIds(this.db, studyId, 1))[0] ?? null;
  }

  /**
   * Copies a completed trial's latest checkpoint snapshot into `registry/<model>/v<N>` and
   * records the version (and the alias move, if asked) in one transaction. On any failure
   * nothing is left behind: no row, no files.
   */
  async promote(input: PromoteInput): Promise<PromoteResult> {
    assertModelName(input.model);
    if (input.alias !== undefined) assertAlias(input.alias);
    const top = input.top ?? 1;
    if (!Number.isInteger(top) || top < 1 || top > MAX_ENSEMBLE)
      throw new InvalidInputError(`--top ${top} is not an ensemble size`, `use 1 to ${MAX_ENSEMBLE}`);
    if (top > 1 && input.trialId !== undefined)
      throw new InvalidInputError(
        'give either a trial or --top K, not both',
        'drop --trial to promote the top K',
      );
    const study = await requireStudy(this.db, input.studyId);
    const trialIds =
      input.trialId !== undefined ? [input.trialId] : await rankedTrialIds(this.db, study.id, top);
    if (trialIds.length === 0)
      throw new InvalidInputError(
        `study ${study.id} has no completed trial yet`,
        'wait for a trial to finish a rung, then promote',
      );
    if (trialIds.length < top)
      throw new InvalidInputError(
        `study ${study.id} has ${trialIds.length} promotable trial(s), fewer than --top ${top}`,
        `wait for more trials to finish a rung, or use --top ${trialIds.length}`,
      );
    const sources: PromoteSource[] = [];
    for (const id of trialIds) sources.push(await promoteSource(this.db, this.artifacts, study, id));
    const row = top === 1 ? singleVersionRow(sources[0]!) : ensembleVersionRow(sources);
    const result = await this.insertVersion(input, study.id, row, (tmp) => copySources(tmp, sources, row));
    this.logger?.info(
      { model: input.model, version: result.version, trials: trialIds, alias: input.alias },
      'promoted',
    );
    return {
      model: input.model,
      version: result.version,
      trialId: trialIds[0]!,
      studyId: study.id,
      artifactKey: result.key,
      alias: input.alias ?? null,
      members: top === 1 ? null : trialIds,
    };
  }

  /**
   * Numbers the version, fills its files through `fill` (a temporary directory renamed into
   * place) and records it (and the alias move, if asked) in one transaction. On any failure
   * nothing is left behind: no row, no files.
   */
  private async insertVersion(
    input: PromoteInput,
    studyId: string,
    row: VersionRow,
    fill: (dir: string) => Promise<void>,
  ): Promise<{ version: number; key: string }> {
    let copiedKey: string | null = null;
    const result = await this.db
      .transaction(async (tx) => {
        await tx.insert(models).values({ name: input.model }).onConflictDoNothing();
        // Serialise version numbering per model.
        await tx.execute(sql`SELECT 1 FROM ${models} WHERE ${models.name} = ${input.model} FOR UPDATE`);
        const [{ max } = { max: 0 }] = await tx
          .select({ max: sql<number>`coalesce(max(${modelVersions.version}), 0)::int` })
          .from(modelVersions)
          .where(eq(modelVersions.modelName, input.model));
        const version = max + 1;
        const key = registryKey(input.model, version);
        await this.fillVersionDir(key, fill);
        copiedKey = key;
        // Published before the version row commits: a failed push (object store down) rolls the
        // transaction back, so no committed version ever lacks its files.
        await this.artifacts.push(key);
        await tx.insert(modelVersions).values({
          modelName: input.model,
          version,
          studyId,
          artifactKey: key,
          createdBy: input.by,
          ...row,
        });
        if (input.alias) await this.moveAlias(tx, input.model, input.alias, version, input.by);
        return { version, key };
      })
      .catch(async (err: unknown) => {
        // The transaction rolled back: the copied (and maybe partly pushed) files must go too.
        if (copiedKey) await this.artifacts.remove(copiedKey).catch(() => undefined);
        throw err;
      });
    return result;
  }

  /** Writes a version's files into a temporary directory, then renames it to the version key. */
  private async fillVersionDir(key: string, fill: (dir: string) => Promise<void>): Promise<void> {
    const target = this.artifacts.localDir(key);
    const tmp = join(dirname(target), `.tmp-${process.pid}-${Date.now()}`);
    await rm(target, { recursive: true, force: true }); // leftovers of a crashed promote of the same number
    await mkdir(tmp, { recursive: true });
    try {
      await fill(tmp);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** Points `alias` at `version` and records the move (no event when it already points there). */
  private async moveAlias(
    tx: DbOrTx,
    model: string,
    alias: string,
    version: number,
    by: string,
  ): Promise<number | null> {
    const [current] = await tx
      .select()
      .from(modelAliases)
      .where(and(eq(modelAliases.modelName, model), eq(modelAliases.alias, alias)))
      .for('update');
    if (current?.version === version) return version;
    await tx
      .insert(modelAliases)
      .values({ modelName: model, alias, version, updatedBy: by })
      .onConflictDoUpdate({
        target: [modelAliases.modelName, modelAliases.alias],
        set: { version, updatedBy: by, updatedAt: new Date() },
      });
    await tx
      .insert(aliasEvents)
      .values({ modelName: model, alias, fromVersion: current?.version ?? null, toVersion: version, by });
    return current?.version ?? null;
  }

  /** Moves an alias to any existing version (forwards or back). */
  async setAlias(
    model: string,
    alias: string,
    version: number,
    by: string,
  ): Promise<{ model: string; alias: string; version: number; previous: number | null }> {
    assertModelName(model);
    assertAlias(alias);
    return this.db.transaction(async (tx) => {
      const [target] = await tx
        .select({ version: modelVersions.version })
        .from(modelVersions)
        .where(and(eq(modelVersions.modelName, model), eq(modelVersions.version, version)));
      if (!target)
        throw new NotFoundError(
          `model ${model} has no version ${version}`,
          'list versions with `braintune models`',
        );
      const previous = await this.moveAlias(tx, model, alias, version, by);
      return { model, alias, version, previous };
    });
  }

  /** Moves an alias back to the version it held before its last move. */
  async rollbackAlias(
    model: string,
    alias: string,
    by: string,
  ): Promise<{ model: string; alias: string; version: number; previous: number | null }> {
    assertModelName(model);
    assertAlias(alias);
    const [last] = await this.db
      .select()
      .from(aliasEvents)
      .where(and(eq(aliasEvents.modelName, model), eq(aliasEvents.alias, alias)))
      .orderBy(desc(aliasEvents.id))
      .limit(1);
    if (!last)
      throw new NotFoundError(
        `model ${model} has no alias ${alias}`,
        'set it first with promote --alias or the registry page',
      );
    if (last.fromVersion === null)
      throw new InvalidInputError(
        `${model}@${alias} has never pointed at another version`,
        'name the version to move it to instead',
      );
    return this.setAlias(model, alias, last.fromVersion, by);
  }

  /** One page of models by name, each with its versions, aliases and alias history; and how many there are. */
  async listModels(page: Page = { limit: 1000, offset: 0 }): Promise<{ models: ModelInfo[]; total: number }> {
    const [rows, [count]] = await Promise.all([
      this.db.select().from(models).orderBy(asc(models.name)).limit(page.limit).offset(page.offset),
      this.db.select({ total: sql<number>`count(*)::int` }).from(models),
    ]);
    return { models: await this.describe(rows), total: count?.total ?? 0 };
  }

  async getModel(name: string): Promise<ModelInfo> {
    assertModelName(name);
    const [m] = await this.db.select().from(models).where(eq(models.name, name));
    if (!m)
      throw new NotFoundError(
        `no model named ${name}`,
        'promote a trial first (braintune promote STUDY --model NAME)',
      );
    return (await this.describe([m]))[0]!;
  }

  /** Three queries for any number of models (not three per model). */
  private async describe(rows: (typeof models.$inferSelect)[]): Promise<ModelInfo[]> {
    if (rows.length === 0) return [];
    const names = rows.map((m) => m.name);
    const [versions, aliases, history] = await Promise.all([
      this.db
        .select({ v: modelVersions, studyName: studies.name })
        .from(modelVersions)
        .leftJoin(studies, eq(studies.id, modelVersions.studyId))
        .where(inArray(modelVersions.modelName, names))
        .orderBy(desc(modelVersions.version)),
      this.db
        .select()
        .from(modelAliases)
        .where(inArray(modelAliases.modelName, names))
        .orderBy(asc(modelAliases.alias)),
      this.db
        .select()
        .from(aliasEvents)
        .where(inArray(aliasEvents.modelName, names))
        .orderBy(desc(aliasEvents.id)),
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

  /**
   * The version a reference names: `NAME@vN`, `NAME@ALIAS`, or a bare `NAME` (its
   * `production` alias, else its newest version).
   */
  async resolve(ref: ModelRef | string): Promise<VersionInfo> {
    const parsed = typeof ref === 'string' ? parseModelRef(ref) : ref;
    const info = await this.getModel(parsed.model);
    let version: number | undefined;
    if ('version' in parsed) version = parsed.version;
    else if ('alias' in parsed) {
      version = info.aliases[parsed.alias];
      if (version === undefined) {
        throw new NotFoundError(
          `model ${parsed.model} has no alias ${parsed.alias}`,
          `aliases: ${Object.keys(info.aliases).join(', ') || 'none'}; or name a version as ${parsed.model}@v1`,
        );
      }
    } else version = info.aliases.production ?? info.versions[0]?.version;
    const found = info.versions.find((v) => v.version === version);
    if (!found)
      throw new NotFoundError(
        `no version ${formatModelRef(parsed)}`,
        `versions: ${info.versions.map((v) => `v${v.version}`).join(', ') || 'none'}`,
      );
    return found;
  }

  /** Local directory of a version's checkpoint (pulled from the store first). */
  async versionDir(version: VersionInfo): Promise<string> {
    if (!(await this.artifacts.pull(version.artifactKey))) {
      throw new NotFoundError(
        `the files of ${version.model}@v${version.version} (${version.artifactKey}) are missing from ${this.artifacts.location}`,
        'check ARTIFACT_ROOT',
      );
    }
    return this.artifacts.localDir(version.artifactKey);
  }
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
