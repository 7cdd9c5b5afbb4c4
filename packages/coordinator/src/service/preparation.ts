import { and, eq, sql } from 'drizzle-orm';
import type { ArtifactStore } from '@braintune/artifacts';
import { prepareDataset } from '@braintune/model-core/dataset';
import type { DatasetRef, Logger } from '@braintune/protocol';
import { resolveDataPath } from '../data-roots/data-path.js';
import { publicPreparationError } from '../data-roots/public-error.js';
import type { Database } from '../db/client.js';
import { studies } from '../db/schema.js';
import { StudyConfigError } from '../study/problems.js';
import { EVENTS_CHANNEL } from './events.js';
import type { StudyDefinition } from './study-definition.js';
import { prepareTestSets } from './test-sets.js';
import { warmStartProblems } from './warm-start.js';

export interface PreparationDeps {
  database: Database;
  store: ArtifactStore;
  log: Logger;
  /** Data sets prepared at once: each reads and decodes a whole tree. */
  maxPreparations: number;
  /** The study's parsed definition (cached by the coordinator). */
  definition(studyId: string, source: unknown): StudyDefinition;
  /** Called once a study turned `running`: lets the scheduler start. */
  onReady(studyId: string): Promise<void>;
}

/**
 * Moves studies from `preparing` to `running`: builds (or finds) each study's dataset
 * bundles, at most `maxPreparations` at once; a failure marks the study failed with a reason
 * safe to show.
 */
export class DatasetPreparation {
  private readonly preparing = new Set<string>();

  constructor(private readonly deps: PreparationDeps) {}

  start(studyId: string): void {
    if (this.preparing.has(studyId)) return;
    // The rest wait in `preparing`; a later tick starts them.
    if (this.preparing.size >= this.deps.maxPreparations) return;
    this.preparing.add(studyId);
    void this.prepare(studyId)
      .catch((err: unknown) => this.deps.log.error({ err, studyId }, 'dataset preparation crashed'))
      .finally(() => this.preparing.delete(studyId));
  }

  /** Builds (or finds) the study's dataset bundle, then lets the scheduler start. */
  private async prepare(studyId: string): Promise<void> {
    const { db } = this.deps.database;
    const [study] = await db.select().from(studies).where(eq(studies.id, studyId));
    if (!study || study.state !== 'preparing') return;
    const def = this.deps.definition(study.id, study.source);
    const datasets: DatasetRef[] = [];
    let dataDir: string | null = null;
    try {
      // Checked again: the tree may have changed since submission, or the roots been narrowed.
      dataDir = (await resolveDataPath(def.dataset.path)).realPath;
      // One content-addressed bundle per (image size, preprocessing); an identical request reuses it.
      for (const { imageSize, preprocessing } of def.bundles) {
        const prepared = await prepareDataset({
          dataDir,
          imageSize,
          ...preprocessing,
          valFraction: def.dataset.valFraction,
          seed: def.dataset.seed,
          ...(def.dataset.nearDuplicateThreshold !== undefined
            ? { nearDuplicateThreshold: def.dataset.nearDuplicateThreshold }
            : {}),
          store: this.deps.store,
        });
        def.checkClasses(prepared.manifest.classes);
        const testSets = await prepareTestSets(this.deps.store, def.testSets, prepared.manifest);
        datasets.push({
          hash: prepared.hash,
          imageSize: prepared.manifest.imageSize,
          classes: prepared.manifest.classes,
          preprocessing,
          split: prepared.split,
          ...(testSets.length > 0 ? { testSets } : {}),
        });
        this.deps.log.info(
          {
            studyId,
            hash: prepared.hash,
            imageSize,
            preprocessing,
            split: prepared.split,
            reused: prepared.reused,
            images: prepared.manifest.count,
          },
          'dataset ready',
        );
      }
      // Once every bundle variant is known: warm-start sources must have trained on the same ones.
      const problems = await warmStartProblems(db, def.config, datasets);
      if (problems.length > 0) throw new StudyConfigError(problems);
    } catch (err) {
      const message = publicPreparationError(err, dataDir, def.dataset.path);
      this.deps.log.error({ studyId, err }, 'dataset preparation failed');
      await db
        .update(studies)
        .set({
          state: 'failed',
          error: `dataset preparation failed: ${message}`,
          finishedAt: new Date(),
          updatedAt: new Date(),
        })
        .where(and(eq(studies.id, studyId), eq(studies.state, 'preparing')));
      await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${studyId})`);
      return;
    }
    await db
      .update(studies)
      .set({ dataset: datasets[0], datasets, state: 'running', startedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(studies.id, studyId), eq(studies.state, 'preparing')));
    await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${studyId})`);
    await this.deps.onReady(studyId);
  }
}
