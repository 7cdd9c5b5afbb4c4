import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ArtifactStore } from '@braintune/artifacts';
import {
  DEFAULT_CROP_MARGIN,
  IntensityStandardisationSchema,
  InvalidInputError,
  createLogger,
  groupBy,
  type Logger,
  type SplitSummary,
} from '@braintune/protocol';
import {
  BUNDLE_FORMAT_VERSION,
  BundleOptionsSchema,
  IMAGES_FILE,
  LABELS_FILE,
  type BundleManifest,
  type BundleOptions,
  type DuplicateGroup,
  type SkippedFile,
} from './manifest.js';
import { readManifestIfValid } from './bundle.js';
import { bundleHash, sha256Hex, writeBundleAtomically } from './bundle-write.js';
import { groupForSplit, splitSummary } from './groups.js';
import { DEFAULT_NEAR_DUPLICATE_THRESHOLD, type PerceptualHash } from './near-duplicates.js';
import { mapWithConcurrency } from './pool.js';
import {
  DEFAULT_KERNEL,
  DEFAULT_RESIZE,
  ResizeKernelSchema,
  ResizeMethodSchema,
  decoderVersions,
  type Preprocessing,
} from './preprocess.js';
import { compareCodePoints, scanImageFolder, type SourceFile } from './scan.js';
import { decodeDistinct, packImages, type Decoded } from './decode-all.js';
import { stratifiedGroupSplit } from './split.js';

export { bundleHash } from './bundle-write.js';

export const PrepareOptionsSchema = z.object({
  dataDir: z.string().min(1),
  imageSize: z.number().int().min(8).max(1024),
  valFraction: z.number().min(0).max(0.9).default(0.2),
  testFraction: z.number().min(0).max(0.9).default(0),
  seed: z.number().int().default(1),
  resize: ResizeMethodSchema.default(DEFAULT_RESIZE),
  kernel: ResizeKernelSchema.default(DEFAULT_KERNEL),
  crossClassDuplicates: z.enum(['skip', 'keep']).default('skip'),
  /**
   * Near-duplicate split: images whose dHash and pHash are both within this Hamming distance
   * share a split group; null = byte-identical groups only.
   */
  nearDuplicateThreshold: z
    .number()
    .int()
    .min(0)
    .max(64)
    .nullable()
    .default(DEFAULT_NEAR_DUPLICATE_THRESHOLD),
  headCrop: z.boolean().default(false),
  cropMargin: z.number().min(0).max(0.5).default(DEFAULT_CROP_MARGIN),
  intensity: IntensityStandardisationSchema.default('none'),
  /** Files decoded at once. sharp runs each on libuv's thread pool (4 threads by default). */
  concurrency: z.number().int().min(1).max(64).optional(),
});
export type PrepareOptionsInput = z.input<typeof PrepareOptionsSchema>;

export interface PrepareDatasetOptions extends PrepareOptionsInput {
  store: ArtifactStore;
  /** Called after every decoded file (done, total); not called when the bundle is reused. */
  onProgress?: (done: number, total: number) => void;
}

export interface PrepareDatasetResult {
  hash: string;
  /** Artifact-store key: `datasets/<hash>`. */
  key: string;
  manifest: BundleManifest;
  /** True when an existing bundle was used and nothing was decoded. */
  reused: boolean;
  /** Split sizes and what the near-duplicate grouping found. */
  split: SplitSummary;
  stats: { files: number; decoded: number; hashMs: number; decodeMs: number; totalMs: number };
}

export interface HashedFile extends SourceFile {
  sha256: string;
}

/** The split summary of a manifest; version-1 bundles only know their byte-identical groups. */
function summaryOf(manifest: BundleManifest): SplitSummary {
  if (manifest.nearDuplicates) return splitSummary(manifest.split, manifest.nearDuplicates);
  return {
    train: manifest.split.train.length,
    val: manifest.split.val.length,
    test: manifest.split.test.length,
    nearDuplicateThreshold: null,
    groups: manifest.duplicateGroups.length,
    largestGroup: Math.max(0, ...manifest.duplicateGroups.map((g) => g.indices.length)),
    nearDuplicatePairs: 0,
    crossClassPairs: 0,
  };
}

let logger: Logger | undefined;
const log = (): Logger => (logger ??= createLogger('dataset'));

/**
 * Turns an ImageFolder directory into a content-addressed bundle in the artifact store
 * (`datasets/<hash>`: manifest.json, images.u8, labels.u8) and returns its hash.
 *
 * Every file is read and sha256-hashed first (~0.3 s for the 82 MB shared set; a size/mtime
 * fingerprint would need its own cache and silently miss a file rewritten in place). The
 * bundle hash covers the sorted (label, sha256) list, the class names, every option that
 * changes the output and the decoder version, so an identical request finds the bundle
 * with `store.pull` and returns without decoding anything.
 */
export async function prepareDataset(options: PrepareDatasetOptions): Promise<PrepareDatasetResult> {
  const started = performance.now();
  const { store, onProgress, ...rest } = options;
  const parsed = PrepareOptionsSchema.safeParse(rest);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new InvalidInputError(`invalid dataset options: ${issues}`, 'fix the options named above');
  }
  const opts = parsed.data;
  if (opts.valFraction + opts.testFraction >= 1) {
    throw new InvalidInputError(
      `valFraction ${opts.valFraction} + testFraction ${opts.testFraction} leaves nothing to train on`,
      'keep valFraction + testFraction below 1 (e.g. 0.2 and 0)',
    );
  }
  // Without head crop the margin changes no pixel: one canonical value, one bundle.
  if (!opts.headCrop) opts.cropMargin = DEFAULT_CROP_MARGIN;
  const bundleOptions: BundleOptions = BundleOptionsSchema.parse(opts);
  const concurrency = opts.concurrency ?? Math.max(2, availableParallelism()) * 2;
  const source = path.resolve(opts.dataDir);

  const scanned = await scanImageFolder(source);
  const skipped: SkippedFile[] = scanned.ignored.map((i) => ({
    path: i.path,
    sha256: null,
    reason: i.reason,
  }));

  // 1. Hash every file (cheap) so the bundle's address is known before any decoding.
  const hashStart = performance.now();
  const hashedOrNull = await mapWithConcurrency(
    scanned.files,
    16,
    async (file): Promise<HashedFile | null> => {
      try {
        const bytes = await readFile(file.absPath);
        return { ...file, sha256: createHash('sha256').update(bytes).digest('hex') };
      } catch (error) {
        skipped.push({ path: file.relPath, sha256: null, reason: `unreadable: ${(error as Error).message}` });
        return null;
      }
    },
  );
  const hashed = hashedOrNull.filter((f): f is HashedFile => f !== null);
  const hashMs = performance.now() - hashStart;

  // 2. Byte-identical files: groups, and copies that contradict each other's label.
  const bySha = groupBy(hashed, (f) => f.sha256);
  const conflicting = new Set<string>();
  for (const [sha, copies] of bySha) {
    if (new Set(copies.map((c) => c.label)).size > 1) conflicting.add(sha);
  }
  const candidates = hashed.filter(
    (f) => !(conflicting.has(f.sha256) && opts.crossClassDuplicates === 'skip'),
  );
  if (conflicting.size > 0) {
    log().warn(
      { groups: conflicting.size, policy: opts.crossClassDuplicates },
      'byte-identical files found in more than one class (label noise)',
    );
    if (opts.crossClassDuplicates === 'skip') {
      for (const sha of conflicting) {
        const copies = bySha.get(sha) ?? [];
        const where = [...new Set(copies.map((c) => scanned.classes[c.label]))].join(', ');
        for (const c of copies) {
          skipped.push({
            path: c.relPath,
            sha256: sha,
            reason: `cross-class duplicate: identical bytes in classes ${where}`,
          });
        }
      }
    }
  }

  const decoder = decoderVersions();
  const hash = bundleHash(scanned.classes, candidates, bundleOptions, decoder);
  const key = `datasets/${hash}`;

  // 3. Reuse: the same inputs and options were bundled before.
  if (await store.pull(key)) {
    const existing = await readManifestIfValid(store.localDir(key), hash);
    if (existing) {
      log().info({ hash, images: existing.count }, 'dataset bundle reused');
      const totalMs = performance.now() - started;
      return {
        hash,
        key,
        manifest: existing,
        reused: true,
        split: summaryOf(existing),
        stats: { files: scanned.files.length, decoded: 0, hashMs, decodeMs: 0, totalMs },
      };
    }
    log().warn({ hash, dir: store.localDir(key) }, 'dataset bundle present but invalid; rebuilding it');
    await store.remove(key);
  }

  // 4. Decode each distinct file once (copies have identical bytes, hence identical pixels).
  const preprocessing: Preprocessing = {
    grayscale: true,
    resize: opts.resize,
    kernel: opts.kernel,
    imageSize: opts.imageSize,
    headCrop: opts.headCrop,
    cropMargin: opts.cropMargin,
    intensity: opts.intensity,
  };
  const wantHashes = opts.nearDuplicateThreshold !== null;
  const decodeStart = performance.now();
  const decoded = await decodeDistinct(candidates, preprocessing, wantHashes, concurrency, onProgress);
  const decodeMs = performance.now() - decodeStart;

  // 5. Order images by (label, sha256, path): the pixel arrays depend only on what the hash covers.
  const included: (HashedFile & Decoded)[] = [];
  for (const f of candidates) {
    const d = decoded.get(f.sha256);
    if (typeof d === 'string' || d === undefined) {
      skipped.push({ path: f.relPath, sha256: f.sha256, reason: d ?? 'not decoded' });
    } else {
      included.push({ ...f, ...d });
    }
  }
  included.sort(
    (a, b) =>
      a.label - b.label || compareCodePoints(a.sha256, b.sha256) || compareCodePoints(a.relPath, b.relPath),
  );

  const counts: Record<string, number> = Object.fromEntries(scanned.classes.map((c) => [c, 0]));
  for (const f of included)
    counts[scanned.classes[f.label] as string] = (counts[scanned.classes[f.label] as string] ?? 0) + 1;
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

  const { images, labels, files } = packImages(included, opts.imageSize);

  // 6. Duplicate groups (all copies, incl. skipped conflicts) and the group-aware split.
  const indicesBySha = groupBy(files, (f) => f.sha256);
  const duplicateGroups: DuplicateGroup[] = [...bySha.entries()]
    .filter(([, copies]) => copies.length > 1)
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([sha, copies]) => ({
      sha256: sha,
      paths: copies.map((c) => c.relPath).sort(compareCodePoints),
      indices: (indicesBySha.get(sha) ?? []).map((f) => f.index),
      classes: [...new Set(copies.map((c) => c.label))]
        .sort((a, b) => a - b)
        .map((l) => scanned.classes[l] as string),
      crossClass: conflicting.has(sha),
    }));
  const phashes = new Map<string, PerceptualHash>();
  for (const f of included) if (f.phash) phashes.set(f.sha256, f.phash);
  const grouping = groupForSplit(
    files,
    scanned.classes,
    wantHashes ? phashes : null,
    opts.nearDuplicateThreshold,
  );
  for (const f of files) f.group = grouping.groupOf[f.index] as number;
  const split = stratifiedGroupSplit(grouping.groups, opts);

  const manifest: BundleManifest = {
    formatVersion: BUNDLE_FORMAT_VERSION,
    hash,
    createdAt: new Date().toISOString(),
    source,
    classes: scanned.classes,
    counts,
    count: included.length,
    imageSize: opts.imageSize,
    preprocessing,
    decoder,
    options: bundleOptions,
    storage: {
      images: {
        file: IMAGES_FILE,
        shape: [included.length, opts.imageSize, opts.imageSize],
        sha256: sha256Hex(images),
      },
      labels: { file: LABELS_FILE, shape: [included.length], sha256: sha256Hex(labels) },
    },
    files,
    skipped: skipped.sort((a, b) => compareCodePoints(a.path, b.path)),
    duplicateGroups,
    nearDuplicates: grouping.report,
    split,
  };

  await writeBundleAtomically(store.localDir(key), manifest, images, labels);
  await store.push(key);
  const totalMs = performance.now() - started;
  log().info(
    {
      hash,
      images: included.length,
      skipped: skipped.length,
      duplicateGroups: duplicateGroups.length,
      nearDuplicateGroups: grouping.report.groups,
      nearDuplicatePairs: grouping.report.pairs,
      crossClassPairs: grouping.report.crossClassPairs,
      decodeMs: Math.round(decodeMs),
    },
    'dataset bundle written',
  );
  return {
    hash,
    key,
    manifest,
    reused: false,
    split: splitSummary(split, grouping.report),
    stats: { files: scanned.files.length, decoded: decoded.size, hashMs, decodeMs, totalMs },
  };
}
