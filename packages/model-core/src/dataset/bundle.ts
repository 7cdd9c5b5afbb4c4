import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactStore } from '@braintune/artifacts';
import { BraintuneError, InvalidInputError, NotFoundError } from '@braintune/protocol';
import {
  BundleManifestSchema,
  IMAGES_FILE,
  LABELS_FILE,
  MANIFEST_FILE,
  type BundleManifest,
} from './manifest.js';
import type { DatasetBundle } from './types.js';

const HASH = /^[0-9a-f]{64}$/;
const REBUILD_HINT =
  'remove the bundle directory and prepare the data set again (same data and options give the same hash)';

/** A bundle directory that exists but cannot be trusted (truncated copy, edited file, wrong version). */
export class CorruptBundleError extends BraintuneError {
  constructor(message: string) {
    super(message, 'corrupt_bundle', REBUILD_HINT);
  }
}

/**
 * Loads bundle `hash` into memory: pulls it, validates the manifest (zod), checks the blob
 * sizes and sha256s recorded in it, label range and split indices. Missing → NotFoundError,
 * damaged → CorruptBundleError.
 */
export async function loadBundle(store: ArtifactStore, hash: string): Promise<DatasetBundle> {
  const { manifest, dir } = await pullManifest(store, hash);
  const images = await readBlob(dir, IMAGES_FILE);
  const labels = await readBlob(dir, LABELS_FILE);
  const [count, height, width] = manifest.storage.images.shape as [number, number, number];
  const expect = (ok: boolean, what: string): void => {
    if (!ok) throw new CorruptBundleError(`dataset bundle ${hash} at ${dir}: ${what}`);
  };
  expect(
    count === manifest.count && height === manifest.imageSize && width === manifest.imageSize,
    'image shape disagrees with the manifest',
  );
  expect(
    images.length === count * height * width,
    `${IMAGES_FILE} has ${images.length} bytes, expected ${count * height * width}`,
  );
  expect(labels.length === count, `${LABELS_FILE} has ${labels.length} bytes, expected ${count}`);
  expect(
    sha256Hex(images) === manifest.storage.images.sha256,
    `${IMAGES_FILE} does not match its sha256 in the manifest`,
  );
  expect(
    sha256Hex(labels) === manifest.storage.labels.sha256,
    `${LABELS_FILE} does not match its sha256 in the manifest`,
  );
  expect(
    labels.every((l) => l < manifest.classes.length),
    'a label is outside the class list',
  );
  const seen = new Uint8Array(count);
  for (const index of [...manifest.split.train, ...manifest.split.val, ...manifest.split.test]) {
    expect(index < count && seen[index] === 0, `split index ${index} is out of range or in two splits`);
    seen[index] = 1;
  }
  return {
    hash,
    classes: manifest.classes,
    imageSize: manifest.imageSize,
    images,
    labels,
    split: manifest.split,
    preprocessing: manifest.preprocessing,
  };
}

/** The validated manifest of bundle `hash` (pulls it first). */
export async function readBundleManifest(store: ArtifactStore, hash: string): Promise<BundleManifest> {
  return (await pullManifest(store, hash)).manifest;
}

async function pullManifest(
  store: ArtifactStore,
  hash: string,
): Promise<{ manifest: BundleManifest; dir: string }> {
  if (!HASH.test(hash)) {
    throw new InvalidInputError(
      `"${hash}" is not a dataset bundle hash`,
      'pass the 64-hex-digit hash printed when the data set was prepared',
    );
  }
  const key = `datasets/${hash}`;
  if (!(await store.pull(key))) {
    throw new NotFoundError(
      `dataset bundle ${hash} is not in the artifact store ${store.location}`,
      'prepare the data set first (prepareDataset / braintune train --data DIR), with the same ARTIFACT_ROOT',
    );
  }
  const dir = store.localDir(key);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8'));
  } catch (error) {
    throw new CorruptBundleError(
      `dataset bundle ${hash} at ${dir}: unreadable ${MANIFEST_FILE} (${(error as Error).message})`,
    );
  }
  const parsed = BundleManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorruptBundleError(
      `dataset bundle ${hash} at ${dir}: invalid ${MANIFEST_FILE} (${issue?.path.join('.')}: ${issue?.message})`,
    );
  }
  if (parsed.data.hash !== hash) {
    throw new CorruptBundleError(`dataset bundle at ${dir} records hash ${parsed.data.hash}, not ${hash}`);
  }
  return { manifest: parsed.data, dir };
}

/**
 * The manifest in `dir` if it is valid for `hash` and the blobs have the recorded sizes, else
 * null. Used to decide whether an existing bundle can be reused (cheap: no blob hashing).
 */
export async function readManifestIfValid(dir: string, hash: string): Promise<BundleManifest | null> {
  try {
    const parsed = BundleManifestSchema.safeParse(
      JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')),
    );
    if (!parsed.success || parsed.data.hash !== hash) return null;
    const m = parsed.data;
    const imageBytes = (await stat(path.join(dir, IMAGES_FILE))).size;
    const labelBytes = (await stat(path.join(dir, LABELS_FILE))).size;
    return imageBytes === m.count * m.imageSize * m.imageSize && labelBytes === m.count ? m : null;
  } catch {
    return null;
  }
}

async function readBlob(dir: string, file: string): Promise<Uint8Array> {
  try {
    const buffer = await readFile(path.join(dir, file));
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
  } catch (error) {
    throw new CorruptBundleError(
      `dataset bundle at ${dir}: cannot read ${file} (${(error as Error).message})`,
    );
  }
}

/** Hex sha256 of bytes: file contents, and the pixel and label arrays a manifest pins. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
