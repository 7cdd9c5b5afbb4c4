import type { CurveSeries, LeaderboardRow, StudySnapshot } from '@braintune/coordinator';

/**
 * What changed on the study page between two snapshots of its live view. `order` is the
 * page's trial ids in rank order (a row's rank is its place there), `rows` holds only the
 * rows that changed or entered the page and `curves` only the curves that grew; the other
 * parts come only when they changed. `seq` numbers the deltas of one stream: a client whose
 * last seq is not `seq - 1` missed one and must take a fresh snapshot.
 */
export interface SnapshotDelta {
  seq: number;
  generatedAt: number;
  study: StudySnapshot['study'];
  bestTrialId: string | null;
  page: StudySnapshot['page'];
  order: string[];
  rows: LeaderboardRow[];
  curves: CurveSeries[];
  changed: Partial<Pick<StudySnapshot, (typeof WHOLE_PARTS)[number]>>;
}

/** Parts sent whole when they differ (each small, or changing seldom). */
const WHOLE_PARTS = [
  'classes',
  'testSets',
  'varyingHyperparameters',
  'datasets',
  'brackets',
  'workers',
] as const;

/** A row's content apart from its rank (a move up the board shifts every rank below it). */
const rowKey = ({ rank: _rank, ...rest }: LeaderboardRow): string => JSON.stringify(rest);

export function snapshotDelta(previous: StudySnapshot, next: StudySnapshot, seq: number): SnapshotDelta {
  const before = new Map(previous.rows.map((r) => [r.trialId, rowKey(r)]));
  const curveLength = new Map(previous.curves.map((c) => [c.trialId, c.epochs.length]));
  const changed: SnapshotDelta['changed'] = {};
  for (const part of WHOLE_PARTS)
    if (JSON.stringify(previous[part]) !== JSON.stringify(next[part]))
      Object.assign(changed, { [part]: next[part] });
  return {
    seq,
    generatedAt: next.generatedAt,
    study: next.study,
    bestTrialId: next.bestTrialId,
    page: next.page,
    order: next.rows.map((r) => r.trialId),
    rows: next.rows.filter((r) => before.get(r.trialId) !== rowKey(r)),
    curves: next.curves.filter((c) => curveLength.get(c.trialId) !== c.epochs.length),
    changed,
  };
}
