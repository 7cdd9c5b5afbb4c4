import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { createLogger, InvalidInputError } from '@braintune/protocol';
import { SubmitResponseSchema, TrialRowSchema, WorkerRowSchema } from '@braintune/coordinator';
import { callApi } from '../api-client.js';
import { followStudy, isTerminalState } from '../live/follow-study.js';
import type { Snapshot } from '../live/status-board.js';
import { fetchStatus, fetchSummary } from './status.js';

/** The study, its trials best first and the workers, from the API at BRAINTUNE_URL. */
async function fetchSnapshot(studyId: string): Promise<Snapshot> {
  const id = encodeURIComponent(studyId);
  const [summary, trials, workers] = await Promise.all([
    fetchSummary(studyId),
    callApi(`/api/studies/${id}/trials?sort=objective`, z.array(TrialRowSchema)),
    callApi('/api/workers', z.array(WorkerRowSchema)),
  ]);
  return { summary, trials, workers };
}

/** `braintune submit FILE [--wait] [--json]`: last stdout line is `{"studyId": …}`. */
export function register(program: Command): void {
  program
    .command('submit <file>')
    .description('submit a study config (YAML or JSON) to the API at BRAINTUNE_URL')
    .option('--wait', 'wait until the study completes, is cancelled or fails')
    .option('--json', 'print only the JSON line')
    .action(async (file: string, opts: { wait?: boolean; json?: boolean }) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new InvalidInputError(
          `cannot read ${file}: ${(err as Error).message}`,
          'pass the path of a study YAML or JSON file',
        );
      }
      const contentType = file.endsWith('.json') ? 'application/json' : 'application/yaml';
      const res = await callApi('/api/studies', SubmitResponseSchema, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: text,
      });
      if (!opts.json)
        console.log(
          `submitted study ${res.studyId}${res.plannedRungs ? ` (${res.plannedRungs} trial rungs planned)` : ''}`,
        );
      // On stderr, so stdout keeps its JSON last line; shown before any training starts.
      if (res.warning) console.error(`warning: ${res.warning}`);
      if (!opts.wait) {
        console.log(JSON.stringify({ studyId: res.studyId }));
        return;
      }
      let state: string;
      if (opts.json) {
        for (;;) {
          state = (await fetchStatus(res.studyId)).state;
          if (isTerminalState(state)) break;
          await new Promise((r) => setTimeout(r, 1000));
        }
      } else {
        const { summary } = await followStudy({
          snapshot: () => fetchSnapshot(res.studyId),
          log: createLogger('submit'),
        });
        state = summary.state;
        console.log(`study ${res.studyId} ${state}${summary.error ? ` (${summary.error})` : ''}`);
        if (summary.endReason) console.log(`ended early: ${summary.endReason}`);
      }
      console.log(JSON.stringify({ studyId: res.studyId, state }));
      if (state !== 'completed') process.exitCode = 1;
    });
}
