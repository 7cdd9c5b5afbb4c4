import type { SingleBar } from 'cli-progress';
import { openArtifactStore, type ArtifactStore } from '@braintune/artifacts';
import {
  createLogger,
  readEnv,
  type Calibration,
  type Hyperparameters,
  type TestSetScore,
} from '@braintune/protocol';
import {
  calibrate,
  evaluateCheckpointOnFolder,
  initBackend,
  loadCheckpoint,
  mapTestClasses,
  train,
  type BackendInfo,
  type PresetName,
  type TrainResult,
} from '@braintune/model-core';
import {
  loadBundle,
  prepareDataset,
  scanImageFolder,
  type DatasetBundle,
  type PrepareDatasetResult,
} from '@braintune/model-core/dataset';
import { stderrProgressBar } from '../progress-bar.js';
import { printTestReport, testScoreJson } from '../test-report.js';
import { formatCalibration, formatSplit, printValidationReport, trainSummaryJson } from './train-report.js';

/** What `braintune train` runs with once its options are parsed and checked. */
export interface TrainSettings {
  /** The ImageFolder to train on, absolute. */
  dataDir: string;
  epochs: number;
  seed: number;
  preset: PresetName;
  hparams: Hyperparameters;
  /** undefined = the default, null = byte-identical copies only. */
  nearDuplicateThreshold: number | null | undefined;
  /** The external test set (--test), absolute. */
  testDir: string | undefined;
  /** The checkpoint directory (--out), absolute; undefined = a new one in the artifact store. */
  outDir: string | undefined;
  json: boolean;
}

/**
 * Prepares (or reuses) the dataset bundle, trains, calibrates, saves the checkpoint and reports.
 * `started` is when the command began: the reported wall time includes option parsing.
 */
export async function runTraining(settings: TrainSettings, started: number): Promise<void> {
  const backend = await initBackend({ logger: createLogger('backend') });
  const env = readEnv();
  const store = openArtifactStore(env.ARTIFACT_ROOT);
  const bar = stderrProgressBar('{phase} [{bar}] {value}/{total} | {status} | {eta_formatted} left');
  try {
    const { prepared, bundle } = await prepareTrainingData(store, settings, bar);
    console.log(formatSplit(prepared.split));
    // A misnamed test folder must fail before minutes of training, not after.
    if (settings.testDir !== undefined)
      mapTestClasses(bundle.classes, (await scanImageFolder(settings.testDir)).classes, settings.testDir);

    const checkpoint = checkpointLocation(store, settings.outDir);
    const result = await trainWithProgress(store, settings, bundle, checkpoint.dir, bar);
    try {
      const calibration =
        result.evaluation === null
          ? null
          : await calibrate(result.model, bundle, { checkpointDir: checkpoint.dir });
      if (checkpoint.storeKey !== undefined) await store.push(checkpoint.storeKey);

      const wallSeconds = (performance.now() - started) / 1000;
      await reportRun({ settings, backend, prepared, bundle, result, calibration, checkpoint, wallSeconds });
    } finally {
      result.model.dispose();
    }
  } finally {
    bar.stop();
  }
}

/** Decodes the ImageFolder into a bundle in the store (or finds it there) and loads it. */
async function prepareTrainingData(
  store: ArtifactStore,
  settings: TrainSettings,
  bar: SingleBar,
): Promise<{ prepared: PrepareDatasetResult; bundle: DatasetBundle }> {
  const { dataDir, hparams, nearDuplicateThreshold } = settings;
  bar.start(1, 0, { phase: 'decode', status: dataDir });
  const prepared = await prepareDataset({
    store,
    dataDir,
    imageSize: hparams.imageSize,
    ...hparams.preprocessing,
    ...(nearDuplicateThreshold === undefined ? {} : { nearDuplicateThreshold }),
    onProgress: (done, total) => {
      bar.setTotal(total);
      bar.update(done);
    },
  });
  const bundle = await loadBundle(store, prepared.hash);
  bar.stop();
  return { prepared, bundle };
}

interface CheckpointLocation {
  dir: string;
  /** The artifact-store key to push once the run is saved; undefined for an --out directory. */
  storeKey: string | undefined;
}

function checkpointLocation(store: ArtifactStore, outDir: string | undefined): CheckpointLocation {
  if (outDir !== undefined) return { dir: outDir, storeKey: undefined };
  const storeKey = `checkpoints/cli/${new Date().toISOString().replace(/[:.]/g, '-')}`;
  return { dir: store.localDir(storeKey), storeKey };
}

/** Trains in-process, one progress-bar step per batch; the status shows the last epoch's metrics. */
async function trainWithProgress(
  store: ArtifactStore,
  { hparams, epochs, seed }: TrainSettings,
  bundle: DatasetBundle,
  checkpointDir: string,
  bar: SingleBar,
): Promise<TrainResult> {
  const batchesPerEpoch = Math.ceil(bundle.split.train.length / hparams.batchSize);
  bar.start(epochs * batchesPerEpoch, 0, { phase: 'train ', status: `epoch 1/${epochs}` });
  let lastStatus = '';
  const result = await train({
    bundle,
    hparams,
    toEpoch: epochs,
    seed,
    checkpointDir,
    baseModels: store,
    onBatch: ({ epoch, batch }) =>
      bar.update((epoch - 1) * batchesPerEpoch + batch, {
        status: `epoch ${epoch}/${epochs}${lastStatus}`,
      }),
    onEpoch: (m) => {
      lastStatus = ` | last: loss ${m.loss.toFixed(3)} acc ${m.accuracy.toFixed(3)} val_acc ${m.valAccuracy.toFixed(3)} ${Math.round(m.trainImagesPerSecond)} img/s`;
    },
  });
  bar.stop();
  return result;
}

interface FinishedRun {
  settings: TrainSettings;
  backend: BackendInfo;
  prepared: PrepareDatasetResult;
  bundle: DatasetBundle;
  result: TrainResult;
  calibration: Calibration | null;
  checkpoint: CheckpointLocation;
  wallSeconds: number;
}

/** The validation report, calibration, test-set report, checkpoint line and (--json) summary. */
async function reportRun(run: FinishedRun): Promise<void> {
  const { settings, result, calibration } = run;
  const checkpointDir = run.checkpoint.dir;
  if (result.outcome === 'diverged') {
    console.error('error: training diverged (the loss became NaN or infinite)');
    console.error('hint: lower learningRate, e.g. --hp learningRate=0.0003');
    process.exitCode = 1;
  }
  if (result.evaluation !== null) printValidationReport(result.evaluation);
  if (calibration !== null) console.log(formatCalibration(calibration));
  const test =
    settings.testDir !== undefined && result.epochsDone > 0
      ? await scoreTestSet(checkpointDir, settings.testDir)
      : undefined;
  console.log(
    `checkpoint: ${checkpointDir} (${result.epochsDone} epochs, ${result.outcome}, ${run.wallSeconds.toFixed(0)} s)`,
  );
  if (settings.json)
    console.log(
      JSON.stringify(
        trainSummaryJson({
          backendName: run.backend.name,
          bundle: run.bundle,
          prepared: run.prepared,
          result,
          calibration,
          checkpointDir,
          preset: settings.preset,
          seed: settings.seed,
          hparams: settings.hparams,
          wallSeconds: run.wallSeconds,
          test,
        }),
      ),
    );
}

/** Prints the test-set report and returns its score for the JSON summary. */
async function scoreTestSet(checkpointDir: string, testDir: string): Promise<TestSetScore> {
  // Scored from the checkpoint on disk, exactly as `braintune evaluate --checkpoint` does.
  const loaded = await loadCheckpoint(checkpointDir);
  try {
    const scored = await evaluateCheckpointOnFolder(loaded, testDir);
    printTestReport(`test set ${testDir}:`, scored, scored.skipped);
    return testScoreJson(scored.score);
  } finally {
    loaded.model.dispose();
  }
}
