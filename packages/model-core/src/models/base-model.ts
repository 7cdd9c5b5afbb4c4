import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ArtifactStore } from '@braintune/artifacts';
import { InvalidInputError, parseBaseModelRef } from '@braintune/protocol';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { loadLayersModelFromFile } from './model-io.js';

/**
 * The artifact key a transfer base reference names: `artifact:KEY` is the key itself,
 * `registry:NAME@vN` the registry version's key. Aliases move, so a study pins them to a
 * version when it is submitted; one that reaches a trainer unpinned is refused.
 */
export function baseModelKey(ref: string): string {
  const parsed = parseBaseModelRef(ref);
  if (parsed.kind === 'artifact') return parsed.key;
  if (parsed.version === null)
    throw new InvalidInputError(
      `baseModelUrl ${ref} names an alias, which this process cannot resolve`,
      `name the version (registry:${parsed.model}@v<N>); a study submitted through the API has its aliases pinned to versions`,
    );
  return `registry/${parsed.model}/v${parsed.version}`;
}

/**
 * Loads a transfer base from the artifact store: a registry version or checkpoint (a folder with
 * latest.json), or a tfjs LayersModel folder (model.json + weight files). Nothing else is read:
 * no URL is fetched and no path outside the store is opened.
 */
export async function loadBaseModel(ref: string, store: ArtifactStore | undefined): Promise<tfl.LayersModel> {
  const key = baseModelKey(ref);
  if (!store)
    throw new InvalidInputError(
      `baseModelUrl ${ref} needs the artifact store`,
      'pass the artifact store (ARTIFACT_ROOT) to the trainer',
    );
  if (!(await store.pull(key)))
    throw new InvalidInputError(
      `baseModelUrl ${ref}: the artifact store has no ${key}`,
      'promote the model into the registry first, or copy a tfjs model folder into the store under that key',
    );
  const dir = store.localDir(key);
  const isCheckpoint = await access(join(dir, 'latest.json')).then(
    () => true,
    () => false,
  );
  if (isCheckpoint) return (await loadCheckpoint(dir)).model;
  return loadLayersModelFromFile(join(dir, 'model.json'));
}
