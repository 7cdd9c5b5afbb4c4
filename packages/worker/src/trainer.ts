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
    return memo(this.bundles, hash, () => this.modules().ds.loadBundle(this.store, hash));
  }

  /** Validation scans with lesion masks (phantom data sets), found once per bundle. */
  private pointingCasesOf(bundle: DatasetBundle): Promise<PointingCase[]> {
    const { mc, ds } = this.modules();
    return memo(this.pointingCases, bundle.hash, async () =>
      mc.validationPointingCases(bundle, await ds.readBundleManifest(this.store, bundle.hash)),
    );
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
    const { testScores, pointing } =
      result.outcome === 'completed'
        ? await this.scoreCheckpoint(job, bundle, checkpointDir)
        : { testScores: {}, pointing: null };
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
   * The rung's checkpoint, loaded once from disk exactly as `braintune evaluate --checkpoint`
   * does, scored on each of the job's test sets (a few hundred images: cheap next to a rung) and,
   * on a data set with lesion masks, in the pointing game on the validation scans.
   */
  private async scoreCheckpoint(
    job: TrialJobData,
    bundle: DatasetBundle,
    checkpointDir: string,
  ): Promise<{ testScores: TestSetScores; pointing: PointingScore | null }> {
    const cases = await this.pointingCasesOf(bundle);
    if (job.testSets.length === 0 && cases.length === 0) return { testScores: {}, pointing: null };
    const { mc } = this.modules();
    const loaded = await mc.loadCheckpoint(checkpointDir);
    try {
      const testScores: TestSetScores = {};
      for (const testSet of job.testSets) {
        const testBundle = await this.bundle(testSet.hash);
        testScores[testSet.name] = mc.scoreTestBundle(
          loaded.model,
          loaded.state.classes,
          testBundle,
          testSet.name,
        ).score;
      }
      return { testScores, pointing: mc.scorePointing(loaded.model, cases, loaded.state.classes) };
    } finally {
      loaded.model.dispose();
    }
  }
}

/** A promise per key, created once; a failed one is forgotten so the next call tries again. */
function memo<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = load();
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}
