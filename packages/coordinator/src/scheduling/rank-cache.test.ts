import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../study/prng.js';
import { RankCache, type RankedResult } from './rank-cache.js';

function results(count: number, seed: number): RankedResult[] {
  const prng = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => ({
    trialId: `t${i}`,
    index: i,
    // Few distinct scores, so ties (broken by index) are common.
    score: prng.nextInt(10) / 10,
    meetsConstraints: prng.next() < 0.7,
  }));
}

const fresh = (list: RankedResult[]) =>
  [...list].sort((a, b) => Number(b.meetsConstraints) - Number(a.meetsConstraints) || b.score! - a.score! || a.index - b.index).map((r) => r.trialId);

describe('RankCache', () => {
  it('always equals a fresh sort while results arrive in any order', () => {
    const all = results(300, 9);
    // A seeded shuffle: results finish in an order unrelated to their rank or index.
    const prng = mulberry32(4);
    const arrival = [...all];
    for (let i = arrival.length - 1; i > 0; i--) {
      const j = prng.nextInt(i + 1);
      [arrival[i], arrival[j]] = [arrival[j]!, arrival[i]!];
    }
    const cache = new RankCache();
    for (let n = 1; n <= arrival.length; n += 7) {
      const seen = arrival.slice(0, n);
      expect(cache.update(seen).map((r) => r.trialId)).toEqual(fresh(seen));
    }
  });

  it('rebuilds when a result changed or vanished', () => {
    const cache = new RankCache();
    const list = results(50, 3);
    cache.update(list);
    const changed = list.map((r, i) => (i === 10 ? { ...r, score: 5 } : r));
    expect(cache.update(changed).map((r) => r.trialId)).toEqual(fresh(changed));
    const fewer = changed.slice(5);
    expect(cache.update(fewer).map((r) => r.trialId)).toEqual(fresh(fewer));
  });
});
