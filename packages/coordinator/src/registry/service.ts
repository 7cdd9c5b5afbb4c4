import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { and, desc, eq, sql } from 'drizzle-orm';
import type { ArtifactStore } from '@braintune/artifacts';
import { InvalidInputError, NotFoundError, type Logger } from '@braintune/protocol';
import { aliasEvents, modelAliases, models, modelVersions, type Db, type DbOrTx } from '../db/index.js';
import type { Page } from '../read-model/page.js';
import { getModel, listModels, type ModelInfo, type VersionInfo } from './catalog.js';
import {
  copySources,
  ensembleVersionRow,
  singleVersionRow,
  MAX_ENSEMBLE,
  type VersionRow,
} from './ensemble.js';
import { assertAlias, assertModelName, formatModelRef, parseModelRef, type ModelRef } from './model-ref.js';
import { promoteSource, rankedTrialIds, requireStudy, type PromoteSource } from './promote-source.js';

export type { VersionMetrics } from './promote-source.js';

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
  listModels(page: Page = { limit: 1000, offset: 0 }): Promise<{ models: ModelInfo[]; total: number }> {
    return listModels(this.db, page);
  }

  getModel(name: string): Promise<ModelInfo> {
    return getModel(this.db, name);
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
