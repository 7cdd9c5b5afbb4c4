import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ENSEMBLE_MANIFEST, EnsembleManifestSchema, InvalidInputError } from '@braintune/protocol';
import { loadCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';

export interface LoadedEnsemble {
  kind: 'ensemble';
  dir: string;
  classes: string[];
  threshold: number;
  members: LoadedCheckpoint[];
}

/** A checkpoint or an ensemble, as `predict` takes it. */
export type LoadedPredictor = LoadedCheckpoint | LoadedEnsemble;

export function isEnsemble(p: LoadedPredictor): p is LoadedEnsemble {
  return 'kind' in p && p.kind === 'ensemble';
}

async function readManifest(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, ENSEMBLE_MANIFEST), 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Loads a directory holding either one checkpoint or an ensemble (ensemble.json + member-<i>/). */
export async function loadPredictor(dir: string): Promise<LoadedPredictor> {
  const raw = await readManifest(dir);
  if (raw === null) return loadCheckpoint(dir);
  const manifest = EnsembleManifestSchema.parse(raw);
  const members: LoadedCheckpoint[] = [];
  try {
    for (const m of manifest.members) {
      const loaded = await loadCheckpoint(join(dir, m.dir));
      members.push(loaded);
      if (JSON.stringify(loaded.state.classes) !== JSON.stringify(manifest.classes))
        throw new InvalidInputError(
          `ensemble member ${m.dir} in ${dir} predicts ${loaded.state.classes.join(', ')}, the ensemble ${manifest.classes.join(', ')}`,
          'build ensembles only from trials of one study (same classes in the same order)',
        );
    }
  } catch (err) {
    for (const m of members) m.model.dispose();
    throw err;
  }
  return { kind: 'ensemble', dir, classes: manifest.classes, threshold: manifest.threshold, members };
}

/** Frees the models of a loaded checkpoint or ensemble. */
export function disposePredictor(p: LoadedPredictor): void {
  if (isEnsemble(p)) for (const m of p.members) m.model.dispose();
  else p.model.dispose();
}
