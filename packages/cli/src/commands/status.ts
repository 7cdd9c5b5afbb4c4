import type { Command } from 'commander';
import { StudySummarySchema, type StudySummary } from '@braintune/coordinator';
import { callApi } from '../api-client.js';

export const TERMINAL_STATES: string[] = ['completed', 'cancelled', 'failed'];

/** The machine-readable status line (the issue's contract). */
export interface StatusLine {
  studyId: string;
  state: StudySummary['state'];
  trials: StudySummary['trials'];
  rungs: StudySummary['rungs'];
  /** Why the study completed before its plan ran out; null otherwise. */
  endReason: string | null;
  best: {
    trialId: string;
    hyperparameters: unknown;
    valMacroF1: number | null;
    valAccuracy: number | null;
    /** External test sets, by name: beside the objective, never part of the ranking. */
    test: NonNullable<StudySummary['best']>['test'];
  } | null;
}

export async function fetchSummary(studyId: string): Promise<StudySummary> {
  return callApi(`/api/studies/${encodeURIComponent(studyId)}`, StudySummarySchema);
}

export function toStatusLine(s: StudySummary): StatusLine {
  return {
    studyId: s.studyId,
    state: s.state,
    trials: s.trials,
    rungs: s.rungs,
    endReason: s.endReason,
    best: s.best
      ? {
          trialId: s.best.trialId,
          hyperparameters: s.best.hyperparameters,
          valMacroF1: s.best.valMacroF1,
          valAccuracy: s.best.valAccuracy,
          test: s.best.test,
        }
      : null,
  };
}

export async function fetchStatus(studyId: string): Promise<StatusLine> {
  return toStatusLine(await fetchSummary(studyId));
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(3));

/** `braintune status STUDY [--json]`: the last stdout line is the JSON status. */
export function register(program: Command): void {
  program
    .command('status <study>')
    .description('progress of a study: trials, rungs and the best trial so far')
    .option('--json', 'print only the JSON line')
    .action(async (studyId: string, opts: { json?: boolean }) => {
      const s = await fetchSummary(studyId);
      if (!opts.json) {
        console.log(`study ${s.studyId} "${s.name}": ${s.state}${s.error ? ` (${s.error})` : ''}`);
        console.log(
          `  trials: ${s.trials.total} total, ${s.trials.completed} completed, ${s.trials.running} running, ${s.trials.queued} queued, ${s.trials.failed} failed`,
        );
        console.log(
          `  rungs:  ${s.rungs.completed}/${s.rungs.planned} completed, ${s.epochs} epochs trained`,
        );
        if (s.endReason) console.log(`  ended early: ${s.endReason}`);
        if (s.best)
          console.log(
            `  best:   ${s.best.trialId} val macro-F1 ${pct(s.best.valMacroF1)}, val accuracy ${pct(s.best.valAccuracy)}`,
          );
        for (const [name, t] of Object.entries(s.best?.test ?? {}))
          console.log(
            `  test ${name}: macro-F1 ${pct(t.macroF1)}, accuracy ${pct(t.accuracy)} (not ranked on)`,
          );
      }
      console.log(JSON.stringify(toStatusLine(s)));
    });
}
