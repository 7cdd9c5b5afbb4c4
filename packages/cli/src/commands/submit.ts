import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidInputError } from '@braintune/protocol';
import { SubmitResponseSchema } from '@braintune/coordinator';
import { callApi } from '../api-client.js';
import { fetchStatus, TERMINAL_STATES, type StatusLine } from './status.js';

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
      const res = await callApi('POST', '/api/studies', SubmitResponseSchema, { text, contentType });
      if (!opts.json)
        console.log(
          `submitted study ${res.studyId}${res.plannedRungs ? ` (${res.plannedRungs} trial rungs planned)` : ''}`,
        );
      if (!opts.wait) {
        console.log(JSON.stringify({ studyId: res.studyId }));
        return;
      }
      let last: StatusLine | null = null;
      for (;;) {
        const status = await fetchStatus(res.studyId);
        if (
          !opts.json &&
          (last === null || status.rungs.completed !== last.rungs.completed || status.state !== last.state)
        ) {
          console.log(
            `${status.state}: ${status.rungs.completed}/${status.rungs.planned} rungs, ${status.trials.total} trials`,
          );
        }
        last = status;
        if (TERMINAL_STATES.includes(status.state)) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      console.log(JSON.stringify({ studyId: res.studyId, state: last.state }));
      if (last.state !== 'completed') process.exitCode = 1;
    });
}
