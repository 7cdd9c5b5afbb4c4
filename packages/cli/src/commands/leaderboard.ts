import type { Command } from 'commander';
import { z } from 'zod';
import { TrialRowSchema, type TrialRow } from '@braintune/coordinator';
import { callApi } from '../api-client.js';
import { fetchSummary, TERMINAL_STATES } from './status.js';

const num = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined ? '—' : x.toFixed(digits);

/** Compact rendering of the hyperparameters that usually differ between trials. */
function hpSummary(hp: TrialRow['hyperparameters']): string {
  return `lr=${hp.learningRate.toExponential(1)} bs=${hp.batchSize} f=${hp.baseFilters} blocks=${hp.convBlocks} dense=${hp.denseUnits} drop=${hp.convDropout}`;
}

export function renderTable(rows: TrialRow[], classes: string[]): string {
  const header = [
    '#',
    'trial',
    'status',
    'rung',
    'ep',
    'objective',
    'val acc',
    'val F1',
    ...classes.map((c) => `rec ${c.slice(0, 10)}`),
    'ok',
    'worker',
    'hyperparameters',
  ];
  const body = rows.map((r) => [
    r.rank === null ? '' : String(r.rank),
    r.trialId,
    r.status,
    String(r.rung),
    String(r.epochs),
    num(r.score, 4),
    num(r.valAccuracy),
    num(r.valMacroF1),
    ...classes.map((c) => num(r.valRecall?.[c])),
    r.meetsConstraints === null ? '' : r.meetsConstraints ? 'yes' : 'NO',
    r.workerId ?? '',
    hpSummary(r.hyperparameters),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** `braintune leaderboard STUDY [--watch] [--json]`: trials ranked by the objective. */
export function register(program: Command): void {
  program
    .command('leaderboard <study>')
    .description('trials of a study ranked by the objective (constraint-meeting trials first)')
    .option('--watch', 'refresh every 2 s until the study ends')
    .option('--json', 'print the rows as JSON')
    .action(async (studyId: string, opts: { watch?: boolean; json?: boolean }) => {
      for (;;) {
        const rows = await callApi(
          `/api/studies/${encodeURIComponent(studyId)}/trials?sort=objective`,
          z.array(TrialRowSchema),
        );
        const summary = await fetchSummary(studyId);
        if (opts.json) {
          console.log(JSON.stringify(rows));
        } else {
          const classes = [...new Set(rows.flatMap((r) => Object.keys(r.valRecall ?? {})))].sort();
          if (opts.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          console.log(
            `study ${summary.studyId} "${summary.name}": ${summary.state}, ${summary.rungs.completed}/${summary.rungs.planned} rungs`,
          );
          console.log(renderTable(rows, classes));
        }
        if (!opts.watch || TERMINAL_STATES.includes(summary.state)) return;
        await new Promise((r) => setTimeout(r, 2000));
      }
    });
}
