import type { ArtifactStore } from '@braintune/artifacts';
import type * as ModelCoreModule from '@braintune/model-core';
import type * as DatasetModuleNs from '@braintune/model-core/dataset';
import type { PointingCase } from '@braintune/model-core';
import type { DatasetBundle } from '@braintune/model-core/dataset';
import type {
  Calibration,
  EpochMetrics,
  Evaluation,
  Logger,
  PointingScore,
  TestSetScores,
  TrialJobData,
  TrialOutcome,
} from '@braintune/protocol';
import { seedAttemptCheckpoint } from './attempt-checkpoint.js';

/** What the worker needs from model-core, as one seam (simulated workers in benchmarks replace it). */
export interface RungTrainer {
  /** Chooses and initialises the compute backend; returns names for the worker's heartbeat. */
  init(): Promise<{ backend: string; device: string }>;
  run(input: RungInput): Promise<RungOutput>;
}

export interface RungInput {
  job: TrialJobData;
  /** This attempt's own checkpoint key: only this attempt writes it (see attemptCheckpointKey). */
  attemptKey: string;
  /** Checkpoints of earlier attempts at this rung, oldest first, tried with the committed one. */
  earlierAttemptKeys: readonly string[];
  /** Polled before every epoch; true ends the rung after the epoch in progress. */
  shouldStop: () => boolean;
  /** Awaited after every finished, checkpointed epoch. */
  onEpoch: (metrics: EpochMetrics) => Promise<void>;
  logger: Logger;
}

export interface RungOutput {
  outcome: TrialOutcome;
  epochsDone: number;
  /** Every epoch of this rung (fromEpoch, toEpoch], including ones an earlier attempt trained. */
  history: EpochMetrics[];
  evaluation: Evaluation | null;
  /** Temperature and operating point fitted on validation and stored with the checkpoint. */
  calibration?: Calibration | null;
  /** Scores on the job's external test sets, by name (absent: none were asked for). */
  testScores?: TestSetScores;
  /** The pointing game on validation scans with lesion masks (absent or null: none). */
  pointing?: PointingScore | null;
}

/**
 * The real trainer: model-core's `train` on a dataset bundle cached per process, in the
 * attempt's own checkpoint directory, started from a copy of the most advanced earlier attempt
 * or the trial's committed checkpoint. `train` continues from a checkpoint at any epoch
 * ≥ fromEpoch, so a retried rung loses at most the epoch that was in progress, and a rung
 * whose earlier attempt already reached toEpoch is only evaluated.
 */
type ModelCore = typeof ModelCoreModule;
type DatasetModule = typeof DatasetModuleNs;

export class ModelCoreTrainer implements RungTrainer {
  private readonly bundles = new Map<string, Promise<DatasetBundle>>();
  /** Validation scans with lesion masks, per bundle (found once: most bundles have none). */
  private readonly pointingCases = new Map<string, Promise<PointingCase[]>>();
  // Loaded in init(): importing this package must not pull TensorFlow.js into processes
  // that only use the worker loop (simulated workers in benchmarks).
  private mc: ModelCore | null = null;
  private ds: DatasetModule | null = null;

  constructor(private readonly store: ArtifactStore) {}

  async init(): Promise<{ backend: string; device: string }> {
    this.mc = await import('@braintune/model-core');
    this.ds = await import('@braintune/model-core/dataset');
    const info = await this.mc.initBackend();
    return { backend: info.name, device: info.device };
  }

  private modules(): { mc: ModelCore; ds: DatasetModule } {
    if (!this.mc || !this.ds) throw new Error('ModelCoreTrainer.init() must run before run()');
    return { mc: this.mc, ds: this.ds };
  }

  private bundle(hash: string): Promise<DatasetBundle> {
    let p = this.bundles.get(hash);
    if (!p) {
      p = this.modules().ds.loadBundle(this.store, hash);
      // A failed load must not poison the cache.
      p.catch(() => this.bundles.delete(hash));
      this.bundles.set(hash, p);
    }
    return p;
  }

  async run({
    job,
    attemptKey,
    earlierAttemptKeys,
    shouldStop,
    onEpoch,
    logger,
  }: RungInput): Promise<RungOutput> {
    const { mc } = this.modules();
    const bundle = await this.bundle(job.dataset.hash);
    const sources = [...earlierAttemptKeys].reverse().concat(job.checkpointKey);
    const seed = await seedAttemptCheckpoint(this.store, mc, attemptKey, sources, job);
    if (seed) logger.debug({ ...seed, attemptKey }, 'attempt starts from a copied checkpoint');
    const checkpointDir = this.store.localDir(attemptKey);
    const result = await mc.train({
      bundle,
      hparams: job.hyperparameters,
      fromEpoch: job.fromEpoch,
      toEpoch: job.toEpoch,
      checkpointDir,
      seed: job.seed,
      shouldStop,
      logger,
      baseModels: this.store,
      onEpoch: async (m) => {
        await this.store.push(attemptKey);
        await onEpoch(m);
      },
    });
    let calibration: Calibration | null = null;
    try {
      // A rung that trained nothing new is recalibrated too: cheap, and the same numbers.
      if (result.evaluation !== null && result.outcome !== 'diverged') {
        calibration = await mc.calibrate(result.model, bundle, { checkpointDir });
        await this.store.push(attemptKey);
      }
    } finally {
      result.model.dispose();
    }
    const completed = result.outcome === 'completed';
    const testScores = completed ? await this.scoreTestSets(job, checkpointDir) : {};
    const pointing = completed ? await this.scorePointing(bundle, checkpointDir) : null;
    // The checkpoint's history spans every attempt; this call's history only what it trained.
    const state = await mc.readCheckpointState(checkpointDir);
    const all = state?.history ?? result.history;
    const byEpoch = new Map<number, EpochMetrics>();
    for (const m of [...all, ...result.history])
      if (m.epoch > job.fromEpoch && m.epoch <= job.toEpoch) byEpoch.set(m.epoch, m);
    const history = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
    return {
      outcome: result.outcome,
      epochsDone: result.epochsDone,
      history,
      evaluation: result.evaluation,
      calibration,
      testScores,
      pointing,
    };
  }

  /**
   * Whether the rung's explanations point at the lesion, on the validation scans whose lesion
   * masks are known (phantom data sets); null for any other data set. Scored on the checkpoint
   * as loaded from disk, like the test sets.
   */
  private async scorePointing(bundle: DatasetBundle, checkpointDir: string): Promise<PointingScore | null> {
    const { mc, ds } = this.modules();
    let cases = this.pointingCases.get(bundle.hash);
    if (!cases) {
      cases = ds
        .readBundleManifest(this.store, bundle.hash)
        .then((manifest) => mc.validationPointingCases(bundle, manifest));
      cases.catch(() => this.pointingCases.delete(bundle.hash));
      this.pointingCases.set(bundle.hash, cases);
    }
    const found = await cases;
    if (found.length === 0) return null;
    const loaded = await mc.loadCheckpoint(checkpointDir);
    try {
      return mc.scorePointing(loaded.model, found, loaded.state.classes);
    } finally {
      loaded.model.dispose();
    }
  }

  /**
   * The rung's checkpoint scored on each test set (a few hundred images: cheap next to a rung),
   * loaded from disk exactly as `braintune evaluate --checkpoint` does.
   */
  private async scoreTestSets(job: TrialJobData, checkpointDir: string): Promise<TestSetScores> {
    if (job.testSets.length === 0) return {};
    const { mc } = this.modules();
    const loaded = await mc.loadCheckpoint(checkpointDir);
    try {
      const scores: TestSetScores = {};
      for (const testSet of job.testSets) {
        const bundle = await this.bundle(testSet.hash);
        scores[testSet.name] = mc.scoreTestBundle(
          loaded.model,
          loaded.state.classes,
          bundle,
          testSet.name,
        ).score;
      }
      return scores;
    } finally {
      loaded.model.dispose();
    }
  }
}
