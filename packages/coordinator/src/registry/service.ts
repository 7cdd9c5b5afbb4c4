import { cp, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { ArtifactStore } from '@braintune/artifacts';
import { InvalidInputError, NotFoundError, type Logger } from '@braintune/protocol';
import {
  aliasEvents,
  evaluations,
  modelAliases,
  models,
  modelVersions,
  studies,
  trials,
  type Db,
  type DbOrTx,
} from '../db/index.js';
import { assertAlias, assertModelName, formatModelRef, parseModelRef, type ModelRef } from './model-ref.js';

/** Metrics copied into a version when it is promoted (the source trial may be deleted later). */
export interface VersionMetrics {
  objective: { metric: string; direction: string; value: number | null } | null;
  meetsConstraints: boolean | null;
  valAccuracy: number | null;
  valMacroF1: number | null;
  valLoss: number | null;
  recall: Record<string, number>;
  epochs: number;
}

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
  createdAt: string;
  createdBy: string;
  /** Aliases pointing at this version now. */
  aliases: string[];
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
}

/** Statuses of trials whose last finished rung has an evaluated checkpoint. */
const PROMOTABLE = ['completed', 'stopped'] as const;

/** The parts of a checkpoint's state.json the registry reads (written by model-core). */
const CheckpointStateView = z
  .object({
    epoch: z.number().int(),
    classes: z.array(z.string()),
    imageSize: z.number().int(),
    preprocessing: z.record(z.string(), z.unknown()),
    pixelScale: z.number(),
    hparams: z.record(z.string(), z.unknown()),
  })
  .passthrough();
const LatestView = z.object({ epoch: z.number().int(), path: z.string().regex(/^epoch-\d+$/) });

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
    const [row] = await this.db
      .select({ id: trials.id })
      .from(trials)
      .where(
        and(
          eq(trials.studyId, studyId),
          inArray(trials.status, [...PROMOTABLE]),
          sql`${trials.score} IS NOT NULL`,
        ),
      )
      .orderBy(
        sql`${trials.meetsConstraints} IS TRUE DESC`,
        desc(trials.score),
        desc(trials.epochsDone),
        asc(trials.index),
      )
      .limit(1);
    return row?.id ?? null;
  }

  /**
   * Copies a completed trial's latest checkpoint snapshot into `registry/<model>/v<N>` and
   * records the version (and the alias move, if asked) in one transaction. On any failure
   * nothing is left behind: no row, no files.
   */
  async promote(input: PromoteInput): Promise<PromoteResult> {
    assertModelName(input.model);
    if (input.alias !== undefined) assertAlias(input.alias);
    const [study] = await this.db.select().from(studies).where(eq(studies.id, input.studyId));
    if (!study)
      throw new NotFoundError(
        `no study ${input.studyId}`,
        'list studies with `braintune status` or the dashboard',
      );
    const trialId = input.trialId ?? (await this.bestTrialId(study.id));
    if (!trialId)
      throw new InvalidInputError(
        `study ${study.id} has no completed trial yet`,
        'wait for a trial to finish a rung, then promote',
      );
    const [trial] = await this.db.select().from(trials).where(eq(trials.id, trialId));
    if (!trial || trial.studyId !== study.id)
      throw new NotFoundError(
        `no trial ${trialId} in study ${study.id}`,
        'pick a trial from the study leaderboard',
      );
    if (!(PROMOTABLE as readonly string[]).includes(trial.status) || trial.score === null) {
      throw new InvalidInputError(
        `trial ${trialId} is ${trial.status} and has no evaluated checkpoint`,
        'promote a trial that completed at least one rung',
      );
    }
    const [evaluation] = await this.db
      .select()
      .from(evaluations)
      .where(eq(evaluations.trialId, trial.id))
      .orderBy(desc(evaluations.rung))
      .limit(1);

    if (!(await this.artifacts.pull(trial.checkpointKey))) {
      throw new NotFoundError(
        `the checkpoint of trial ${trialId} (${trial.checkpointKey}) is not in the artifact store ${this.artifacts.location}`,
        "check ARTIFACT_ROOT: the dashboard must see the workers' artifact store",
      );
    }
    const source = this.artifacts.localDir(trial.checkpointKey);
    const latest = LatestView.parse(JSON.parse(await readFile(join(source, 'latest.json'), 'utf8')));
    const state = CheckpointStateView.parse(
      JSON.parse(await readFile(join(source, latest.path, 'state.json'), 'utf8')),
    );

    const config = study.config as { objective?: { metric?: string; direction?: string } };
    const objective = config.objective?.metric
      ? {
          metric: config.objective.metric,
          direction: config.objective.direction ?? 'max',
          value:
            trial.score === null ? null : config.objective.direction === 'min' ? -trial.score : trial.score,
        }
      : null;
    const report = evaluation?.report;
    const metrics: VersionMetrics = {
      objective,
      meetsConstraints: trial.meetsConstraints,
      valAccuracy: report?.accuracy ?? trial.valAccuracy,
      valMacroF1: report?.macroAvg.f1 ?? trial.valMacroF1,
      valLoss: evaluation?.loss ?? trial.valLoss,
      recall: Object.fromEntries(Object.entries(report?.perClass ?? {}).map(([c, m]) => [c, m.recall])),
      epochs: state.epoch,
    };

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
        await this.copySnapshot(source, latest.path, key);
        copiedKey = key;
        // Published before the version row commits: a failed push (object store down) rolls the
        // transaction back, so no committed version ever lacks its files.
        await this.artifacts.push(key);
        {
          await tx.insert(modelVersions).values({
            modelName: input.model,
            version,
            studyId: study.id,
            trialId: trial.id,
            artifactKey: key,
            metrics: metrics as unknown as Record<string, unknown>,
            hyperparameters: state.hparams,
            classes: state.classes,
            imageSize: state.imageSize,
            preprocessing: { ...state.preprocessing, pixelScale: state.pixelScale },
            createdBy: input.by,
          });
          if (input.alias) await this.moveAlias(tx, input.model, input.alias, version, input.by);
        }
        return { version, key };
      })
      .catch(async (err: unknown) => {
        // The transaction rolled back: the copied (and maybe partly pushed) files must go too.
        if (copiedKey) await this.artifacts.remove(copiedKey).catch(() => undefined);
        throw err;
      });
    this.logger?.info(
      { model: input.model, version: result.version, trialId, alias: input.alias },
      'promoted',
    );
    return {
      model: input.model,
      version: result.version,
      trialId: trial.id,
      studyId: study.id,
      artifactKey: result.key,
      alias: input.alias ?? null,
    };
  }

  /** Copies `latest.json` and the snapshot it names into the version key, via a temporary directory. */
  private async copySnapshot(sourceDir: string, snapshot: string, key: string): Promise<void> {
    const target = this.artifacts.localDir(key);
    const tmp = join(dirname(target), `.tmp-${process.pid}-${Date.now()}`);
    await rm(target, { recursive: true, force: true }); // leftovers of a crashed promote of the same number
    await mkdir(tmp, { recursive: true });
    try {
      await cp(join(sourceDir, snapshot), join(tmp, snapshot), { recursive: true });
      await cp(join(sourceDir, 'latest.json'), join(tmp, 'latest.json'));
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

  async listModels(): Promise<ModelInfo[]> {
    const names = await this.db.select().from(models).orderBy(asc(models.name));
    return Promise.all(names.map((m) => this.describe(m)));
  }

  async getModel(name: string): Promise<ModelInfo> {
    assertModelName(name);
    const [m] = await this.db.select().from(models).where(eq(models.name, name));
    if (!m)
      throw new NotFoundError(
        `no model named ${name}`,
        'promote a trial first (braintune promote STUDY --model NAME)',
      );
    return this.describe(m);
  }

  private async describe(m: typeof models.$inferSelect): Promise<ModelInfo> {
    const [versions, aliases, history] = await Promise.all([
      this.db
        .select({ v: modelVersions, studyName: studies.name })
        .from(modelVersions)
        .leftJoin(studies, eq(studies.id, modelVersions.studyId))
        .where(eq(modelVersions.modelName, m.name))
        .orderBy(desc(modelVersions.version)),
      this.db
        .select()
        .from(modelAliases)
        .where(eq(modelAliases.modelName, m.name))
        .orderBy(asc(modelAliases.alias)),
      this.db
        .select()
        .from(aliasEvents)
        .where(eq(aliasEvents.modelName, m.name))
        .orderBy(desc(aliasEvents.id)),
    ]);
    const aliasMap = Object.fromEntries(aliases.map((a) => [a.alias, a.version]));
    return {
      name: m.name,
      description: m.description,
      createdAt: m.createdAt.toISOString(),
      versions: versions.map(({ v, studyName }) =>
        toVersionInfo(
          v,
          studyName,
          aliases.filter((a) => a.version === v.version).map((a) => a.alias),
        ),
      ),
      aliases: aliasMap,
      history: history.map((h) => ({
        alias: h.alias,
        fromVersion: h.fromVersion,
        toVersion: h.toVersion,
        at: h.at.toISOString(),
        by: h.by,
        rollback: h.fromVersion !== null && h.toVersion < h.fromVersion,
      })),
    };
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
    createdAt: v.createdAt.toISOString(),
    createdBy: v.createdBy,
    aliases,
  };
}
