import { compareRankable } from '../study/objective.js';

/**
 * Finished rung results of one rung level, kept sorted best first by binary insertion. The order
 * is total (constraints met, score, then creation index), so it equals a fresh sort of the same
 * results whatever order they arrived in; `rankOf` is the position such a sort would give.
 */

export interface RankedResult {
  readonly trialId: string;
  readonly index: number;
  readonly score: number | null;
  readonly meetsConstraints: boolean;
}

export function compareResults(a: RankedResult, b: RankedResult): number {
  return compareRankable(a, b) || a.index - b.index;
}

export class RankedResults {
  private readonly sorted: RankedResult[] = [];

  get size(): number {
    return this.sorted.length;
  }

  first(): RankedResult | undefined {
    return this.sorted[0];
  }

  /** How many results rank strictly better than `result`. */
  rankOf(result: RankedResult): number {
    let low = 0;
    let high = this.sorted.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareResults(this.sorted[mid]!, result) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  insert(result: RankedResult): void {
    let low = 0;
    let high = this.sorted.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareResults(this.sorted[mid]!, result) <= 0) low = mid + 1;
      else high = mid;
    }
    this.sorted.splice(low, 0, result);
  }

  delete(result: RankedResult): void {
    for (
      let i = this.rankOf(result);
      i < this.sorted.length && compareResults(this.sorted[i]!, result) === 0;
      i++
    ) {
      if (this.sorted[i]!.trialId === result.trialId) {
        this.sorted.splice(i, 1);
        return;
      }
    }
  }

  toArray(): readonly RankedResult[] {
    return this.sorted;
  }

  clear(): void {
    this.sorted.length = 0;
  }
}
