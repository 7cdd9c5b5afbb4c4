import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  CalibrationSchema,
  EpochMetricsSchema,
  EvaluationSchema,
  HyperparametersSchema,
  IntensityStandardisationSchema,
  NotFoundError,
  type Calibration,
} from '@braintune/protocol';
import { z } from 'zod';
import '../models/seeded-dropout.js'; // registers the custom layers for modelFromJSON
import '../models/batch-norm.js';
import { disposeValues, readTensors, writeTensors, type NamedValue } from './tensor-file.js';

/**
 * A checkpoint directory holds one complete snapshot per finished epoch:
 *
 *   <dir>/latest.json          {"epoch": 3, "path": "epoch-0003"}  (replaced atomically)
 *   <dir>/epoch-0003/          model.json (topology), weights.{bin,json},
 *                              optimizer.{bin,json}, state.json
 *
 * A snapshot is written into a temporary directory and renamed into place, then
 * latest.json is replaced by rename: a reader (or a worker restarted after a crash)
 * always sees the previous or the new snapshot, never half of one.
 */

export const CHECKPOINT_FORMAT = 1;
const LATEST = 'latest.json';

/** The bundle's preprocessing; head crop and intensity are absent in checkpoints written before them (= off). */
export const CheckpointPreprocessingSchema = z.object({
  grayscale: z.literal(true),
  resize: z.enum(['fill', 'contain', 'cover']),
  kernel: z.string(),
  imageSize: z.number().int().positive(),
  headCrop: z.boolean().optional(),
  cropMargin: z.number().min(0).max(0.5).optional(),
  intensity: IntensityStandardisationSchema.optional(),
});

export const CheckpointStateSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  /** Epochs trained in total. */
  epoch: z.number().int().min(0),
  /** Optimisation steps taken in total (dropout masks are a function of it). */
  step: z.number().int().min(0),
  /** State of the training RNG (shuffling, augmentation) after `epoch`. */
  rngState: z.number().int().min(0),
  seed: z.number().int(),
  hparams: HyperparametersSchema,
  classes: z.array(z.string()).min(2),
  imageSize: z.number().int().positive(),
  preprocessing: CheckpointPreprocessingSchema,
  /** Pixels are multiplied by this before entering the model. */
  pixelScale: z.number(),
  bundleHash: z.string(),
  backend: z.string(),
  history: z.array(EpochMetricsSchema),
  evaluation: EvaluationSchema.nullable(),
  /** Fitted on validation after the last epoch of a run or rung; absent means T = 1, never refer. */
  calibration: CalibrationSchema.optional(),
  savedAt: z.string(),
});
export type CheckpointState = z.infer<typeof CheckpointStateSchema>;

const LatestSchema = z.object({ epoch: z.number().int().min(0), path: z.string().regex(/^epoch-\d+$/) });

function snapshotName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/** Names every weight of a model by its layer-scoped name (stable across processes). */
function namedModelWeights(model: tfl.LayersModel): NamedValue[] {
  return model.weights.map((w) => ({ name: w.originalName, tensor: w.read() }));
}

/** Makes snapshot `name` the latest of `dir` (latest.json replaced by rename). */
async function pointLatestAt(dir: string, epoch: number, name: string): Promise<void> {
  const tmp = join(dir, `.${LATEST}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify({ epoch, path: name }));
  await rename(tmp, join(dir, LATEST));
}

/** Writes one snapshot atomically and makes it the latest; older snapshots are removed. */
export async function saveCheckpoint(
  dir: string,
  model: tfl.LayersModel,
  state: CheckpointState,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const name = snapshotName(state.epoch);
  const tmp = join(dir, `.tmp-${name}-${process.pid}-${Date.now()}`);
  await mkdir(tmp);
  try {
    await writeFile(join(tmp, 'model.json'), JSON.stringify(model.toJSON(null, false)));
    await writeTensors(join(tmp, 'weights'), namedModelWeights(model));
    const optimizerWeights = model.optimizer === undefined ? [] : await model.optimizer.getWeights();
    try {
      await writeTensors(join(tmp, 'optimizer'), optimizerWeights);
    } finally {
      // getWeights returns the live state variables plus fresh tensors (the step count): free those.
      for (const w of optimizerWeights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
    }
    await writeFile(join(tmp, 'state.json'), JSON.stringify(CheckpointStateSchema.parse(state)));
    await rm(join(dir, name), { recursive: true, force: true });
    await rename(tmp, join(dir, name));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await pointLatestAt(dir, state.epoch, name);
  for (const entry of await readdir(dir)) {
    if (entry !== name && (/^epoch-\d+$/.test(entry) || entry.startsWith('.tmp-')))
      await rm(join(dir, entry), { recursive: true, force: true });
  }
}

/** Directory of the latest complete snapshot, or null when `dir` holds none. */
export async function latestSnapshotDir(dir: string): Promise<string | null> {
  let raw: string;
  try {
    raw = await readFile(join(dir, LATEST), 'utf8');
  } catch {
    return null;
  }
  return join(dir, LatestSchema.parse(JSON.parse(raw)).path);
}

/**
 * Copies the latest snapshot of `fromDir` into `toDir` (which becomes a checkpoint directory of
 * its own) and returns its state, or null when `fromDir` holds none. A writer may replace the
 * snapshot while it is copied (its old directory is removed): the copy then fails with ENOENT
 * and is retried on the new one. The copy is read back and validated before it is made current.
 */
export async function copyCheckpoint(
  fromDir: string,
  toDir: string,
  attempts = 3,
): Promise<CheckpointState | null> {
  for (let attempt = 1; ; attempt++) {
    const snapshot = await latestSnapshotDir(fromDir);
    if (snapshot === null) return null;
    const name = basename(snapshot);
    const tmp = join(toDir, `.tmp-${name}-${process.pid}-${Date.now()}`);
    try {
      await mkdir(toDir, { recursive: true });
      await cp(snapshot, tmp, { recursive: true, errorOnExist: true });
      const state = CheckpointStateSchema.parse(JSON.parse(await readFile(join(tmp, 'state.json'), 'utf8')));
      await rm(join(toDir, name), { recursive: true, force: true });
      await rename(tmp, join(toDir, name));
      await pointLatestAt(toDir, state.epoch, name);
      return state;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= attempts) throw err;
    }
  }
}

/** The state of the latest snapshot, or null when there is none. */
export async function readCheckpointState(dir: string): Promise<CheckpointState | null> {
  const snapshot = await latestSnapshotDir(dir);
  if (snapshot === null) return null;
  return CheckpointStateSchema.parse(JSON.parse(await readFile(join(snapshot, 'state.json'), 'utf8')));
}

/**
 * Records the calibration in the latest snapshot's state.json (replaced by rename, so a
 * reader sees the old or the new file). The next epoch's snapshot drops it until the run
 * is calibrated again.
 */
export async function storeCalibration(dir: string, calibration: Calibration): Promise<void> {
  const snapshot = await requireSnapshot(dir);
  const file = join(snapshot, 'state.json');
  const state = CheckpointStateSchema.parse(JSON.parse(await readFile(file, 'utf8')));
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(CheckpointStateSchema.parse({ ...state, calibration })));
  await rename(tmp, file);
}

async function requireSnapshot(dir: string): Promise<string> {
  const snapshot = await latestSnapshotDir(dir);
  if (snapshot === null)
    throw new NotFoundError(
      `no checkpoint in ${dir}`,
      'pass the directory `braintune train` printed as "checkpoint" (it contains latest.json)',
    );
  return snapshot;
}

function sameShape(a: readonly (number | null)[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Assigns saved weights to a model with the same architecture (matched by name, else by position). */
function assignWeights(model: tfl.LayersModel, saved: NamedValue[]): void {
  const targets = model.weights;
  if (targets.length !== saved.length)
    throw new Error(
      `checkpoint has ${saved.length} weights, the model ${targets.length}: different architecture`,
    );
  const byName = new Map(saved.map((s) => [s.name, s]));
  const uniqueNames = byName.size === saved.length && targets.every((t) => byName.has(t.originalName));
  const ordered = targets.map((t, i) => {
    const s = uniqueNames ? byName.get(t.originalName) : saved[i];
    if (s === undefined || !sameShape(s.tensor.shape, t.shape))
      throw new Error(
        `checkpoint weight ${s?.name ?? i} does not fit ${t.originalName} ${JSON.stringify(t.shape)}`,
      );
    return s.tensor;
  });
  model.setWeights(ordered);
}

/**
 * Restores weights and optimizer state of the latest snapshot into a model built from the
 * same hyperparameters (and compiled: its optimizer receives the saved state).
 */
export async function restoreCheckpoint(dir: string, model: tfl.LayersModel): Promise<CheckpointState> {
  const snapshot = await requireSnapshot(dir);
  const state = CheckpointStateSchema.parse(JSON.parse(await readFile(join(snapshot, 'state.json'), 'utf8')));
  const weights = await readTensors(join(snapshot, 'weights'));
  try {
    assignWeights(model, weights);
  } finally {
    disposeValues(weights);
  }
  const optimizerWeights = await readTensors(join(snapshot, 'optimizer'));
  try {
    if (model.optimizer !== undefined && optimizerWeights.length > 0)
      await model.optimizer.setWeights(optimizerWeights);
  } finally {
    disposeValues(optimizerWeights);
  }
  return state;
}

export interface LoadedCheckpoint {
  dir: string;
  model: tfl.LayersModel;
  state: CheckpointState;
}

/** Loads a checkpoint for inference: the saved topology (no base-model URL needed) and weights. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const snapshot = await requireSnapshot(dir);
  const state = CheckpointStateSchema.parse(JSON.parse(await readFile(join(snapshot, 'state.json'), 'utf8')));
  const topology = JSON.parse(await readFile(join(snapshot, 'model.json'), 'utf8')) as Parameters<
    typeof tfl.models.modelFromJSON
  >[0]['modelTopology'];
  const model = await tfl.models.modelFromJSON({ modelTopology: topology });
  const weights = await readTensors(join(snapshot, 'weights'));
  try {
    assignWeights(model, weights);
  } finally {
    disposeValues(weights);
  }
  return { dir, model, state };
}
