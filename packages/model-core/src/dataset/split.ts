/** mulberry32: a tiny, well-known seeded PRNG; the split must not depend on Math.random. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffleInPlace<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

export interface SplitGroup {
  /** Stratum (the class) the group is counted in. */
  label: number;
  /** Image indices that must stay together (byte-identical files). */
  indices: number[];
  /** Stable key ordering the groups before the seeded shuffle (the sha256). */
  key: string;
}

export interface Split {
  train: number[];
  val: number[];
  test: number[];
}

/**
 * Stratified, seeded, group-aware split: per class, the groups are shuffled with the seed and
 * dealt to test, then val, until each reaches round(classCount × fraction); a group goes whole
 * to one side (so a duplicate can never be in train and val at once). A group is only added
 * when that brings the side strictly closer to its target, so a side ends less than half of
 * the largest group away from round(count × fraction) as long as enough groups remain.
 */
export function stratifiedGroupSplit(
  groups: readonly SplitGroup[],
  options: { valFraction: number; testFraction: number; seed: number },
): Split {
  const random = mulberry32(options.seed);
  const split: Split = { train: [], val: [], test: [] };
  const labels = [...new Set(groups.map((g) => g.label))].sort((a, b) => a - b);
  for (const label of labels) {
    const inClass = groups
      .filter((g) => g.label === label)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    shuffleInPlace(inClass, random);
    const total = inClass.reduce((n, g) => n + g.indices.length, 0);
    const targets = {
      test: Math.round(total * options.testFraction),
      val: Math.round(total * options.valFraction),
    };
    const counts = { test: 0, val: 0 };
    for (const group of inClass) {
      const size = group.indices.length;
      const side = (['test', 'val'] as const).find(
        (s) => counts[s] < targets[s] && counts[s] + size - targets[s] < targets[s] - counts[s],
      );
      if (side) {
        counts[side] += size;
        split[side].push(...group.indices);
      } else {
        split.train.push(...group.indices);
      }
    }
  }
  const ascending = (a: number, b: number): number => a - b;
  return {
    train: split.train.sort(ascending),
    val: split.val.sort(ascending),
    test: split.test.sort(ascending),
  };
}
