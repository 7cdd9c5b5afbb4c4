import { describe, expect, it } from 'vitest';
import { mulberry32, stratifiedGroupSplit, type SplitGroup } from './split.js';

/** 3 classes of 200 / 90 / 31 images; every 7th group is a set of 2–4 byte-identical copies. */
function syntheticGroups(): SplitGroup[] {
  const groups: SplitGroup[] = [];
  let index = 0;
  for (const [label, count] of [200, 90, 31].entries()) {
    let made = 0;
    for (let g = 0; made < count; g++) {
      const size = Math.min(count - made, g % 7 === 0 ? 1 + (g % 3) + 1 : 1);
      groups.push({
        label,
        key: `${label}-${g.toString().padStart(4, '0')}`,
        indices: [...Array(size).keys()].map((k) => index + k),
      });
      index += size;
      made += size;
    }
  }
  return groups;
}

describe('stratifiedGroupSplit', () => {
  const groups = syntheticGroups();
  const total = groups.reduce((n, g) => n + g.indices.length, 0);
  const labelOf = new Map(groups.flatMap((g) => g.indices.map((i) => [i, g.label] as const)));

  it('is a disjoint cover, stratified within one group of the exact fraction, groups kept whole', () => {
    const split = stratifiedGroupSplit(groups, { valFraction: 0.2, testFraction: 0.1, seed: 3 });
    const all = [...split.train, ...split.val, ...split.test];
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    for (const [label, count] of [200, 90, 31].entries()) {
      const inVal = split.val.filter((i) => labelOf.get(i) === label).length;
      const inTest = split.test.filter((i) => labelOf.get(i) === label).length;
      // a group is added only when it brings the side strictly closer to its target: error < 4/2
      expect(Math.abs(inVal - Math.round(count * 0.2)), `val of class ${label}`).toBeLessThanOrEqual(1);
      expect(Math.abs(inTest - Math.round(count * 0.1)), `test of class ${label}`).toBeLessThanOrEqual(1);
    }
    const sideOf = (i: number): string =>
      split.val.includes(i) ? 'val' : split.test.includes(i) ? 'test' : 'train';
    for (const g of groups) expect(new Set(g.indices.map(sideOf)).size, g.key).toBe(1);
  });

  it('is deterministic for a seed, different for another, and independent of the input order', () => {
    const options = { valFraction: 0.2, testFraction: 0, seed: 11 };
    const a = stratifiedGroupSplit(groups, options);
    expect(stratifiedGroupSplit([...groups].reverse(), options)).toEqual(a);
    expect(stratifiedGroupSplit(groups, { ...options, seed: 12 }).val).not.toEqual(a.val);
    expect(a.test).toEqual([]);
  });

  it('mulberry32 gives a fixed, roughly uniform sequence', () => {
    const random = mulberry32(1);
    const first = [random(), random(), random()];
    expect(mulberry32(1)()).toBe(first[0]);
    const values = Array.from({ length: 10_000 }, mulberry32(42));
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
  });
});
