import type { SplitSummary } from '@braintune/protocol';
import type { ManifestFile, NearDuplicateReport } from './manifest.js';
import {
  NEAR_DUPLICATE_METHOD,
  UnionFind,
  joinNearDuplicates,
  type PerceptualHash,
} from './near-duplicates.js';
import { compareCodePoints } from './scan.js';
import type { Split, SplitGroup } from './split.js';

/** Cross-class pairs listed by path in the manifest; the count is always complete. */
export const MAX_LISTED_CROSS_CLASS_PAIRS = 200;
/** Paths of the largest group listed in the manifest. */
const MAX_LISTED_LARGEST = 50;

export interface SplitGrouping {
  groups: SplitGroup[];
  /** Group id of every bundle index (ids follow the groups' keys in code-point order). */
  groupOf: Int32Array;
  report: NearDuplicateReport;
}

/**
 * The units the split deals out whole: byte-identical copies (same sha256) always, plus, when
 * `threshold` is a number, every pair of distinct images whose perceptual hashes are within it,
 * closed transitively (union-find). A group is counted in its most frequent class.
 */
export function groupForSplit(
  files: readonly ManifestFile[],
  classes: readonly string[],
  hashes: ReadonlyMap<string, PerceptualHash> | null,
  threshold: number | null,
): SplitGrouping {
  // Nodes are distinct contents; byte-identical files share one node.
  const shas = [...new Set(files.map((f) => f.sha256))].sort(compareCodePoints);
  const nodeOf = new Map(shas.map((sha, i) => [sha, i]));
  const firstFile = new Map<string, ManifestFile>();
  for (const f of files) if (!firstFile.has(f.sha256)) firstFile.set(f.sha256, f);
  const sets = new UnionFind(shas.length);
  let pairs = 0;
  const cross: NearDuplicateReport['crossClassExamples'] = [];
  let crossCount = 0;
  if (threshold !== null && hashes !== null) {
    const nodeHashes = shas.map((sha) => {
      const h = hashes.get(sha);
      if (!h) throw new Error(`no perceptual hash for ${sha}`);
      return h;
    });
    joinNearDuplicates(nodeHashes, threshold, sets, ({ a, b, distance }) => {
      pairs++;
      const fa = firstFile.get(shas[a] as string) as ManifestFile;
      const fb = firstFile.get(shas[b] as string) as ManifestFile;
      if (fa.label === fb.label) return;
      crossCount++;
      if (cross.length < MAX_LISTED_CROSS_CLASS_PAIRS) {
        cross.push({
          paths: [fa.path, fb.path],
          classes: [classes[fa.label] as string, classes[fb.label] as string],
          distance,
        });
      }
    });
  }

  const members = new Map<number, ManifestFile[]>();
  for (const f of files) {
    const root = sets.find(nodeOf.get(f.sha256) as number);
    const list = members.get(root);
    if (list) list.push(f);
    else members.set(root, [f]);
  }
  const groups: SplitGroup[] = [...members.values()]
    .map((list) => ({
      key: list.map((f) => f.sha256).sort(compareCodePoints)[0] as string,
      label: majorityLabel(list),
      indices: list.map((f) => f.index).sort((a, b) => a - b),
    }))
    .sort((a, b) => compareCodePoints(a.key, b.key));
  const groupOf = new Int32Array(files.length);
  groups.forEach((g, id) => g.indices.forEach((i) => (groupOf[i] = id)));

  const groupSizes: Record<string, number> = {};
  for (const g of groups) groupSizes[g.indices.length] = (groupSizes[g.indices.length] ?? 0) + 1;
  const largest = groups.reduce<SplitGroup | undefined>(
    (best, g) => (best === undefined || g.indices.length > best.indices.length ? g : best),
    undefined,
  );
  const pathOf = new Map(files.map((f) => [f.index, f.path]));
  return {
    groups,
    groupOf,
    report: {
      method: threshold === null ? 'sha256' : NEAR_DUPLICATE_METHOD,
      threshold,
      groups: groups.filter((g) => g.indices.length > 1).length,
      groupSizes,
      largestGroup: {
        size: largest?.indices.length ?? 0,
        paths: (largest?.indices ?? []).slice(0, MAX_LISTED_LARGEST).map((i) => pathOf.get(i) as string),
      },
      pairs,
      crossClassPairs: crossCount,
      crossClassExamples: cross,
    },
  };
}

function majorityLabel(files: readonly ManifestFile[]): number {
  const counts = new Map<number, number>();
  for (const f of files) counts.set(f.label, (counts.get(f.label) ?? 0) + 1);
  let best = Infinity;
  let bestCount = -1;
  for (const [label, n] of counts)
    if (n > bestCount || (n === bestCount && label < best)) [best, bestCount] = [label, n];
  return best;
}

/** The split at a glance, from the manifest's report (train output, study page, DatasetRef). */
export function splitSummary(split: Split, report: NearDuplicateReport): SplitSummary {
  return {
    train: split.train.length,
    val: split.val.length,
    test: split.test.length,
    nearDuplicateThreshold: report.threshold,
    groups: report.groups,
    largestGroup: report.largestGroup.size,
    nearDuplicatePairs: report.pairs,
    crossClassPairs: report.crossClassPairs,
  };
}
