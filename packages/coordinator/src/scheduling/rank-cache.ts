import { compareRankable } from '../study/objective.js';

/**
 * Finished rung results of one rung level, kept sorted best first across `decide` calls.
 * Results only ever arrive (a finished rung's score never changes), so each call inserts the new
 * ones by binary search instead of sorting everything again. Any result that changed or vanished
 * (e.g. a different state was passed) triggers a full rebuild, so the outcome always equals a
 * fresh sort: caching never affects decisions, only their cost.
 */

export interface RankedResult {
  trialId: string;
  index: number;
  score: number | null;
  meetsConstraints: boolean;
}

function compare(a: RankedResult, b: RankedResult): number {
  return compareRankable(a, b) || a.index - b.index;
}

export class RankCache {
  private sorted: RankedResult[] = [];
  private byId = new Map<string, RankedResult>();

  /** `results` must hold every eligible result of the level; returns them best first. */
  update(results: readonly RankedResult[]): readonly RankedResult[] {
    const additions: RankedResult[] = [];
    let kept = 0;
    let valid = true;
    for (const result of results) {
      const cached = this.byId.get(result.trialId);
      if (!cached) additions.push(result);
      else if (cached.score !== result.score || cached.meetsConstraints !== result.meetsConstraints || cached.index !== result.index) {
        valid = false;
        break;
      } else kept++;
    }
    if (!valid || kept !== this.sorted.length || additions.length > this.sorted.length) {
      this.sorted = [...results].sort(compare);
      this.byId = new Map(this.sorted.map((r) => [r.trialId, r]));
      return this.sorted;
    }
    for (const result of additions) {
      let low = 0;
      let high = this.sorted.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (compare(this.sorted[mid]!, result) <= 0) low = mid + 1;
        else high = mid;
      }
      this.sorted.splice(low, 0, result);
      this.byId.set(result.trialId, result);
    }
    return this.sorted;
  }
}
