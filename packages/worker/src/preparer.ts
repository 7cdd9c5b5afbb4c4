import type { ArtifactStore } from '@braintune/artifacts';
import type * as DatasetModuleNs from '@braintune/model-core/dataset';
import type { BundleManifest } from '@braintune/model-core/dataset';
import type * as MetricsModuleNs from '@braintune/model-core/metrics';
import {
  InvalidInputError,
  publicPreparationError,
  resolveDataPath,
  type Logger,
  type PrepareJobData,
  type PrepareResult,
  type PreparedBundle,
  type TestSetRef,
} from '@braintune/protocol';

/** What the worker needs to prepare a study's data sets, as one seam (like RungTrainer). */
export interface DatasetPreparer {
  prepare(job: PrepareJobData, logger: Logger): Promise<PrepareResult>;
}

type DatasetModule = typeof DatasetModuleNs;
type MetricsModule = typeof MetricsModuleNs;

/**
 * The real preparer: model-core's `prepareDataset`, one content-addressed bundle per
 * (image size, preprocessing) of the job, each test set with every training bundle's options.
 * Data paths are confined to this process's data roots, whatever the job says.
 */
export class ModelCorePreparer implements DatasetPreparer {
  // Loaded on first use: sharp is only needed once a preparation arrives.
  private modules: Promise<{ ds: DatasetModule; metrics: MetricsModule }> | null = null;

  constructor(private readonly store: ArtifactStore) {}

  private load(): Promise<{ ds: DatasetModule; metrics: MetricsModule }> {
    this.modules ??= Promise.all([
      import('@braintune/model-core/dataset'),
      import('@braintune/model-core/metrics'),
    ]).then(([ds, metrics]) => ({ ds, metrics }));
    return this.modules;
  }

  /**
   * A data set the user must fix becomes `{ok: false}` with a message safe for any API client;
   * any other error is thrown (the job is retried, then the study fails with a generic message).
   */
  async prepare(job: PrepareJobData, logger: Logger): Promise<PrepareResult> {
    let dataDir: string | null = null;
    try {
      // Checked again here: the tree may have changed since submission, or the roots been narrowed.
      dataDir = (await resolveDataPath(job.dataset.path)).realPath;
      const bundles: PreparedBundle[] = [];
      for (const variant of job.bundles)
        bundles.push(await this.prepareBundle(job, dataDir, variant, logger));
      return { ok: true, bundles };
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      return { ok: false, error: publicPreparationError(err, dataDir, job.dataset.path) };
    }
  }

  private async prepareBundle(
    job: PrepareJobData,
    dataDir: string,
    { imageSize, preprocessing }: PrepareJobData['bundles'][number],
    logger: Logger,
  ): Promise<PreparedBundle> {
    const { ds } = await this.load();
    const prepared = await ds.prepareDataset({
      dataDir,
      imageSize,
      ...preprocessing,
      valFraction: job.dataset.valFraction,
      seed: job.dataset.seed,
      ...(job.dataset.nearDuplicateThreshold !== undefined
        ? { nearDuplicateThreshold: job.dataset.nearDuplicateThreshold }
        : {}),
      store: this.store,
    });
    const testSets = await this.prepareTestSets(job.testSets, prepared.manifest);
    logger.info(
      {
        hash: prepared.hash,
        imageSize,
        preprocessing,
        split: prepared.split,
        reused: prepared.reused,
        images: prepared.manifest.count,
      },
      'dataset bundle ready',
    );
    return {
      dataset: {
        hash: prepared.hash,
        imageSize: prepared.manifest.imageSize,
        classes: prepared.manifest.classes,
        preprocessing,
        split: prepared.split,
        ...(testSets.length > 0 ? { testSets } : {}),
      },
      reused: prepared.reused,
      images: prepared.manifest.count,
    };
  }

  /**
   * Prepares every test set as a bundle with exactly the options of the training bundle
   * (its recorded options object, passed on whole, so new preprocessing options apply to test
   * sets without a change here). Class folders are checked against the training classes
   * before anything is decoded.
   */
  private async prepareTestSets(
    testSets: PrepareJobData['testSets'],
    training: BundleManifest,
  ): Promise<TestSetRef[]> {
    const { ds, metrics } = await this.load();
    const refs: TestSetRef[] = [];
    for (const [i, testSet] of testSets.entries()) {
      const where = `evaluation.testSets[${i}] ("${testSet.name}")`;
      try {
        // Confined to the data roots like dataset.path; messages name the set, never a host path.
        const { realPath } = await resolveDataPath(testSet.path, { field: `evaluation.testSets[${i}].path` });
        const scanned = await ds.scanImageFolder(realPath);
        metrics.mapTestClasses(training.classes, scanned.classes, testSet.name);
        const prepared = await ds.prepareDataset({
          ...training.options,
          dataDir: realPath,
          store: this.store,
        });
        refs.push({ name: testSet.name, hash: prepared.hash });
      } catch (err) {
        if (err instanceof InvalidInputError)
          throw new InvalidInputError(`${where}: ${err.message}`, err.hint);
        throw err;
      }
    }
    return refs;
  }
}
