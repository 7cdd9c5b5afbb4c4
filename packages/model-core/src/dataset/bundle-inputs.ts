import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError, groupBy } from '@braintune/protocol';
import { sha256Hex } from './bundle.js';
import type { Decoded } from './decode-all.js';
import type { BundleManifest, DuplicateGroup, SkippedFile } from './manifest.js';
import { log } from './log.js';
import { mapWithConcurrency } from './pool.js';
import { compareCodePoints, type SourceFile } from './scan.js';

/*
 * What goes into a bundle (prepareDataset's steps before and after decoding): the files'
 * content hashes, byte-identical copies and their label conflicts, the images that decoded in
 * bundle order, and the duplicate groups of the manifest. Every file left out is added to
 * `skipped` with its reason.
 */

export interface HashedFile extends SourceFile {
  sha256: string;
}

/** sha256 of every file; one that cannot be read is skipped, with the reason. */
export async function hashFiles(files: SourceFile[], skipped: SkippedFile[]): Promise<HashedFile[]> {
  const hashed = await mapWithConcurrency(files, 16, async (file): Promise<HashedFile | null> => {
    try {
      const bytes = await readFile(file.absPath);
      return { ...file, sha256: sha256Hex(bytes) };
    } catch (error) {
      skipped.push({ path: file.relPath, sha256: null, reason: `unreadable: ${(error as Error).message}` });
      return null;
    }
  });
  return hashed.filter((f): f is HashedFile => f !== null);
}

export interface ByteIdenticalCopies {
  /** Every file by content hash. */
  bySha: Map<string, HashedFile[]>;
  /** Content hashes found under more than one class (label noise). */
  conflicting: Set<string>;
  /** The files to bundle: all of them, or all but the conflicting copies (policy `skip`). */
  candidates: HashedFile[];
}

export function byteIdenticalCopies(
  hashed: HashedFile[],
  classes: string[],
  policy: 'skip' | 'keep',
  skipped: SkippedFile[],
): ByteIdenticalCopies {
  const bySha = groupBy(hashed, (f) => f.sha256);
  const conflicting = new Set<string>();
  for (const [sha, copies] of bySha) {
    if (new Set(copies.map((c) => c.label)).size > 1) conflicting.add(sha);
  }
  const candidates = hashed.filter((f) => !(conflicting.has(f.sha256) && policy === 'skip'));
  if (conflicting.size === 0) return { bySha, conflicting, candidates };
  log().warn(
    { groups: conflicting.size, policy },
    'byte-identical files found in more than one class (label noise)',
  );
  if (policy === 'skip') {
    for (const sha of conflicting) {
      const copies = bySha.get(sha) ?? [];
      const where = [...new Set(copies.map((c) => classes[c.label]))].join(', ');
      for (const c of copies) {
        skipped.push({
          path: c.relPath,
          sha256: sha,
          reason: `cross-class duplicate: identical bytes in classes ${where}`,
        });
      }
    }
  }
  return { bySha, conflicting, candidates };
}

/** The files that decoded, in bundle order; the others are skipped with the decoder's reason. */
export function decodedInOrder(
  candidates: HashedFile[],
  decoded: Map<string, Decoded | string>,
  skipped: SkippedFile[],
): (HashedFile & Decoded)[] {
  const included: (HashedFile & Decoded)[] = [];
  for (const f of candidates) {
    const d = decoded.get(f.sha256);
    if (typeof d === 'string' || d === undefined) {
      skipped.push({ path: f.relPath, sha256: f.sha256, reason: d ?? 'not decoded' });
    } else {
      included.push({ ...f, ...d });
    }
  }
  return included.sort(
    (a, b) =>
      a.label - b.label || compareCodePoints(a.sha256, b.sha256) || compareCodePoints(a.relPath, b.relPath),
  );
}

/** Images per class; a class left without any is an error naming why its files were skipped. */
export function requireEveryClass(
  included: HashedFile[],
  classes: string[],
  skipped: SkippedFile[],
  source: string,
): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(classes.map((c) => [c, 0]));
  for (const f of included)
    counts[classes[f.label] as string] = (counts[classes[f.label] as string] ?? 0) + 1;
  for (const [className, n] of Object.entries(counts)) {
    if (n === 0) {
      const reasons = skipped.filter((s) => s.path.startsWith(`${className}/`)).slice(0, 3);
      throw new InvalidInputError(
        `class folder ${path.join(source, className)} has no usable images` +
          (reasons.length ? ` (e.g. ${reasons.map((r) => `${r.path}: ${r.reason}`).join('; ')})` : ''),
        `add readable JPEG/PNG images of class "${className}", or remove the folder`,
      );
    }
  }
  return counts;
}

/** Every set of byte-identical copies (skipped conflicting ones included), with its bundle indices. */
export function duplicateGroupsOf(
  { bySha, conflicting }: ByteIdenticalCopies,
  files: BundleManifest['files'],
  classes: string[],
): DuplicateGroup[] {
  const indicesBySha = groupBy(files, (f) => f.sha256);
  return [...bySha.entries()]
    .filter(([, copies]) => copies.length > 1)
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([sha, copies]) => ({
      sha256: sha,
      paths: copies.map((c) => c.relPath).sort(compareCodePoints),
      indices: (indicesBySha.get(sha) ?? []).map((f) => f.index),
      classes: [...new Set(copies.map((c) => c.label))]
        .sort((a, b) => a - b)
        .map((l) => classes[l] as string),
      crossClass: conflicting.has(sha),
    }));
}
