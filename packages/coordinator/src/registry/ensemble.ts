import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ENSEMBLE_MANIFEST,
  EnsembleManifestSchema,
  InvalidInputError,
  type EnsembleManifest,
  type TestSetScores,
} from '@braintune/protocol';
import type { PromoteSource, VersionMetrics } from './promote-source.js';

/** Largest ensemble `promote --top` builds: every member is a full forward pass per scan. */
export const MAX_ENSEMBLE = 10;

/** One member of an ensemble version, as the registry lists it. */
export interface EnsembleMember {
  /** 1 = the study's best trial. */
  rank: number;
  trialId: string;
  dir: string;
  imageSize: number;
  valAccuracy: number | null;
  valMacroF1: number | null;
  temperature: number | null;
  threshold: number | null;
}

/** The columns of a model_versions row that depend on what was promoted. */
export interface VersionRow {
  trialId: string;
  metrics: Record<string, unknown>;
  hyperparameters: Record<string, unknown>;
  classes: string[];
  imageSize: number;
  preprocessing: Record<string, unknown>;
  members: EnsembleMember[] | null;
  /** A single trial's test-set scores, copied on promote; an ensemble was never scored as one. */
  testScores: TestSetScores | null;
}

export function singleVersionRow(source: PromoteSource): VersionRow {
  const { state } = source;
  return {
    trialId: source.trialId,
    metrics: source.metrics as unknown as Record<string, unknown>,
    hyperparameters: state.hparams,
    classes: state.classes,
    imageSize: state.imageSize,
    preprocessing: { ...state.preprocessing, pixelScale: state.pixelScale },
    members: null,
    testScores: source.testScores,
  };
}

/**
 * An ensemble of the sources (best first). Members may differ in image size and
 * preprocessing: each keeps its own and decodes the scan itself. Their classes must match
 * in name and order, or averaging probabilities would mix classes. The version's metrics
 * are not measured (the registry runs no model): they are null, the members carry theirs.
 */
export function ensembleVersionRow(sources: readonly PromoteSource[]): VersionRow {
  const [best] = sources;
  if (best === undefined) throw new Error('an ensemble needs members');
  for (const s of sources) {
    if (JSON.stringify(s.state.classes) !== JSON.stringify(best.state.classes))
      throw new InvalidInputError(
        `trial ${s.trialId} predicts ${s.state.classes.join(', ')}, trial ${best.trialId} ${best.state.classes.join(', ')}`,
        'ensemble trials of one data set (same classes in the same order)',
      );
  }
  const metrics: VersionMetrics = {
    objective: null,
    meetsConstraints: sources.every((s) => s.metrics.meetsConstraints === true),
    valAccuracy: null,
    valMacroF1: null,
    valLoss: null,
    recall: {},
    epochs: Math.max(...sources.map((s) => s.metrics.epochs)),
    calibration: null,
  };
  return {
    trialId: best.trialId,
    metrics: metrics as unknown as Record<string, unknown>,
    hyperparameters: best.state.hparams,
    classes: best.state.classes,
    imageSize: best.state.imageSize,
    preprocessing: { ...best.state.preprocessing, pixelScale: best.state.pixelScale },
    members: sources.map((s, i) => ({
      rank: i + 1,
      trialId: s.trialId,
      dir: `member-${i + 1}`,
      imageSize: s.state.imageSize,
      valAccuracy: s.metrics.valAccuracy,
      valMacroF1: s.metrics.valMacroF1,
      temperature: s.state.calibration?.temperature ?? null,
      threshold: s.state.calibration?.operatingPoint.threshold ?? null,
    })),
    testScores: null,
  };
}

/**
 * The ensemble's referral threshold: the mean of its members' validation thresholds (0 for
 * an uncalibrated member). Averaging calibrated members lowers the top probability a little,
 * so this refers somewhat more than any member alone: the cautious side for triage.
 */
export function ensembleManifest(row: VersionRow): EnsembleManifest {
  const members = row.members ?? [];
  return EnsembleManifestSchema.parse({
    format: 1,
    classes: row.classes,
    threshold: members.reduce((s, m) => s + (m.threshold ?? 0), 0) / Math.max(1, members.length),
    members: members.map((m) => ({ dir: m.dir, trialId: m.trialId, rank: m.rank })),
  });
}

/** Copies the source checkpoints into a version directory: the snapshot itself, or member-<i>/ + ensemble.json. */
export async function copySources(
  dir: string,
  sources: readonly PromoteSource[],
  row: VersionRow,
): Promise<void> {
  const copyOne = async (source: PromoteSource, target: string): Promise<void> => {
    await cp(join(source.sourceDir, source.snapshot), join(target, source.snapshot), { recursive: true });
    await cp(join(source.sourceDir, 'latest.json'), join(target, 'latest.json'));
  };
  if (row.members === null) return copyOne(sources[0]!, dir);
  for (const [i, source] of sources.entries()) await copyOne(source, join(dir, row.members[i]!.dir));
  await writeFile(join(dir, ENSEMBLE_MANIFEST), JSON.stringify(ensembleManifest(row), null, 2));
}
