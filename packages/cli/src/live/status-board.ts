import type { z } from 'zod';
import type { StudySummary, TrialRow, WorkerRowSchema } from '@braintune/coordinator';

type WorkerRow = z.infer<typeof WorkerRowSchema>;

/** What the live status shows, fetched once a second. */
export interface Snapshot {
  summary: StudySummary;
  /** Trials best first (`?sort=objective`). */
  trials: TrialRow[];
  workers: WorkerRow[];
}

const metric = (x: number | null | undefined): string =>
  x === null || x === undefined ? '  —  ' : x.toFixed(3);

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function valueAt(hyperparameters: Record<string, unknown>, name: string): unknown {
  let value: unknown = hyperparameters;
  for (const part of name.split('.'))
    value =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  return value;
}

/** The searched hyperparameters of a trial (dotted names read nested fields), e.g. `learningRate 0.0031`. */
export function describeSearched(hyperparameters: Record<string, unknown>, names: readonly string[]): string {
  return names
    .map((name) => {
      const value = valueAt(hyperparameters, name);
      const shown =
        typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(3)) : value;
      return `${name} ${String(shown)}`;
    })
    .join(', ');
}

/** Hyperparameters whose values differ between the trials (what a search is searching). */
export function varyingNames(trials: readonly TrialRow[]): string[] {
  const names = new Set<string>();
  const first = trials[0]?.hyperparameters as Record<string, unknown> | undefined;
  if (!first) return [];
  for (const key of Object.keys(first)) {
    const nested = first[key];
    const keys =
      typeof nested === 'object' && nested !== null && !Array.isArray(nested)
        ? Object.keys(nested).map((k) => `${key}.${k}`)
        : [key];
    for (const name of keys) {
      const seen = new Set(trials.map((t) => JSON.stringify(valueAt(t.hyperparameters, name))));
      if (seen.size > 1) names.add(name);
    }
  }
  return [...names];
}

/** One compact line, e.g. `running | rungs 9/23 | trials 12 (2 running) | 20 epochs | best F1 0.912 acc 0.915 | 1m23s`. */
export function progressLine(s: StudySummary, elapsedSeconds: number): string {
  return [
    s.state,
    `rungs ${s.rungs.completed}/${s.rungs.planned}`,
    `trials ${s.trials.total} (${s.trials.running} running)`,
    `${s.epochs} epochs`,
    `best F1 ${metric(s.best?.valMacroF1).trim()} acc ${metric(s.best?.valAccuracy).trim()}`,
    formatDuration(elapsedSeconds),
  ].join(' | ');
}

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const rungKey = (trialId: string, rung: number): string => `${trialId}/${rung}`;

/** Every finished rung of a snapshot, by key (to diff two snapshots). */
function finishedRungs(snapshot: Snapshot | null): Set<string> {
  const keys = new Set<string>();
  for (const t of snapshot?.trials ?? [])
    for (const r of t.rungs) if (FINISHED.has(r.status)) keys.add(rungKey(t.trialId, r.rung));
  return keys;
}

/** One readable line per rung that finished between `previous` and `next`. */
export function finishedRungLines(
  previous: Snapshot | null,
  next: Snapshot,
  searched: readonly string[],
): string[] {
  const before = finishedRungs(previous);
  const lines: string[] = [];
  for (const t of [...next.trials].sort((a, b) => a.index - b.index))
    for (const r of t.rungs) {
      if (!FINISHED.has(r.status) || before.has(rungKey(t.trialId, r.rung))) continue;
      const score = r.status === 'completed' ? `score ${metric(r.score).trim()}` : (t.error ?? r.status);
      const hp = searched.length ? `  ${describeSearched(t.hyperparameters, searched)}` : '';
      lines.push(
        `trial #${t.index} rung ${r.rung} ${r.status}: epochs ${r.fromEpoch}→${r.toEpoch}, ${score}${hp}`,
      );
    }
  return lines;
}

/** The live status block: state, progress, a top-5 leaderboard and the workers. */
export function boardLines(
  snapshot: Snapshot,
  searched: readonly string[],
  elapsedSeconds: number,
): string[] {
  const { summary: s, trials, workers } = snapshot;
  const lines = [
    `── study ${s.studyId} "${s.name}" · ${s.state} · ${formatDuration(elapsedSeconds)} ──`,
    `rungs ${s.rungs.completed}/${s.rungs.planned} · trials ${s.trials.completed} done, ${s.trials.running} running, ` +
      `${s.trials.queued} queued${s.trials.failed ? `, ${s.trials.failed} failed` : ''} · ${s.epochs} epochs · ` +
      `best F1 ${metric(s.best?.valMacroF1).trim()} acc ${metric(s.best?.valAccuracy).trim()}`,
  ];
  const ranked = trials.filter((t) => t.rank !== null).slice(0, 5);
  if (ranked.length) {
    lines.push(' #  trial  F1     acc    rung ep  ' + (searched.length ? 'searched' : ''));
    for (const t of ranked)
      lines.push(
        `${String(t.rank).padStart(2)}  ${`#${t.index}`.padEnd(5)}  ${metric(t.valMacroF1)}  ${metric(t.valAccuracy)}  ${String(t.rung).padStart(4)} ${String(t.epochs).padStart(2)}  ${describeSearched(t.hyperparameters, searched)}`,
      );
  }
  const online = workers.filter((w) => w.online);
  const byId = new Map(trials.map((t) => [t.trialId, t]));
  lines.push(`workers ${online.length} online`);
  for (const w of online) {
    const trial = w.currentTrial ? byId.get(w.currentTrial) : undefined;
    const doing = trial
      ? `trial #${trial.index} rung ${trial.rung} (epochs → ${trial.rungs.find((r) => r.rung === trial.rung)?.toEpoch ?? '?'})`
      : w.currentTrial
        ? `trial ${w.currentTrial}`
        : 'idle';
    const speed = w.imagesPerSecond ? ` · ${Math.round(w.imagesPerSecond)} img/s` : '';
    lines.push(`  ${w.id.slice(0, 28).padEnd(28)} ${doing}${speed}`);
  }
  return lines;
}
