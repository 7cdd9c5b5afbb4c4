import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  BUNDLE_FORMAT_VERSION,
  IMAGES_FILE,
  LABELS_FILE,
  MANIFEST_FILE,
  type BundleManifest,
  type BundleOptions,
} from './manifest.js';
import { readManifestIfValid } from './bundle.js';
import { compareCodePoints } from './scan.js';

/** The bundle's content address: everything that determines its images, labels and split. */
export function bundleHash(
  classes: readonly string[],
  files: readonly { sha256: string; label: number }[],
  options: BundleOptions,
  decoder: { sharp: string; vips: string },
): string {
  const items = files.map((f) => `${f.label}:${f.sha256}`).sort(compareCodePoints);
  const canonicalOptions = Object.fromEntries(
    Object.entries(options).sort(([a], [b]) => compareCodePoints(a, b)),
  );
  const payload = JSON.stringify({
    formatVersion: BUNDLE_FORMAT_VERSION,
    decoder,
    classes,
    options: canonicalOptions,
    items,
  });
  return createHash('sha256').update(payload).digest('hex');
}

/**
 * Writes into a sibling temp dir, then renames it into place, so a reader never sees half a
 * bundle. If another process renamed the same bundle first, its copy is equivalent and kept.
 */
export async function writeBundleAtomically(
  dir: string,
  manifest: BundleManifest,
  images: Uint8Array,
  labels: Uint8Array,
): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  const temp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(temp);
  try {
    await writeFile(path.join(temp, IMAGES_FILE), images);
    await writeFile(path.join(temp, LABELS_FILE), labels);
    await writeFile(path.join(temp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
    try {
      await rename(temp, dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await readManifestIfValid(dir, manifest.hash)))
        return;
      throw error;
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
