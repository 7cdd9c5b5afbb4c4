import type { StudyStateChanges } from './types.js';

/**
 * The producer side of `StudyStateChanges`: whoever mutates a live `StudyState` calls
 * `touch(trialId)` for every created or changed trial, and hands the journal over as
 * `state.changes`. Only the most recent `retain` entries are kept (memory stays bounded for long
 * studies); a reader further behind gets null and falls back to a full diff, so a short journal
 * costs speed, never correctness.
 */
export class ChangeJournal implements StudyStateChanges {
  readonly source: object = {};
  private entries: string[] = [];
  /** Version of `entries[0]` minus one: entries before it were dropped. */
  private base = 0;

  constructor(private readonly retain = 65_536) {}

  get version(): number {
    return this.base + this.entries.length;
  }

  touch(trialId: string): void {
    this.entries.push(trialId);
    if (this.entries.length > 2 * this.retain) {
      const drop = this.entries.length - this.retain;
      this.entries = this.entries.slice(drop);
      this.base += drop;
    }
  }

  changedSince(version: number): readonly string[] | null {
    if (version < this.base || version > this.version) return null;
    return this.entries.slice(version - this.base);
  }
}
