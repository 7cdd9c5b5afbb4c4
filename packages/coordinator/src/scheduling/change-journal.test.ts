import { describe, expect, it } from 'vitest';
import { ChangeJournal } from './change-journal.js';

describe('ChangeJournal', () => {
  it('lists the trials touched after a version, and null once that version was dropped', () => {
    const journal = new ChangeJournal(4);
    expect(journal.version).toBe(0);
    expect(journal.changedSince(0)).toEqual([]);
    for (const id of ['a', 'b', 'a', 'c']) journal.touch(id);
    expect(journal.version).toBe(4);
    expect(journal.changedSince(1)).toEqual(['b', 'a', 'c']);
    expect(journal.changedSince(4)).toEqual([]);
    // A version from the future (another journal) is unknown, not "nothing changed".
    expect(journal.changedSince(5)).toBeNull();
    // Past twice the retention the oldest entries go: readers that far behind must rebuild.
    for (const id of ['d', 'e', 'f', 'g', 'h']) journal.touch(id);
    expect(journal.version).toBe(9);
    expect(journal.changedSince(0)).toBeNull();
    expect(journal.changedSince(5)).toEqual(['e', 'f', 'g', 'h']);
  });
});
