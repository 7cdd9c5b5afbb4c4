import type { Command } from 'commander';
import { integerOption } from '../options.js';
import { promote } from '../registry/client.js';

interface PromoteCliOptions {
  trial?: string;
  top?: string;
  model: string;
  alias?: string;
  json?: boolean;
}

/** `braintune promote STUDY [--trial ID | --top K] [--model NAME] [--alias production] [--json]` */
export function register(program: Command): void {
  program
    .command('promote')
    .description(
      "copy a trial's checkpoint into the model registry as a new version (default: the study's best trial); --top K makes an ensemble",
    )
    .argument('<study>', 'study id')
    .option('--trial <id>', 'trial id (default: the best completed trial)')
    .option(
      '--top <k>',
      "promote the study's K best trials (leaderboard order) as one ensemble version averaging their calibrated probabilities",
    )
    .option('--model <name>', 'model name in the registry', 'brain-mri')
    .option('--alias <alias>', 'point this alias (e.g. production, staging) at the new version')
    .option('--json', 'print the result as JSON')
    .action(async (studyId: string, opts: PromoteCliOptions) => {
      const top = opts.top === undefined ? undefined : integerOption('--top', opts.top, 1, 1);
      const r = await promote({
        studyId,
        model: opts.model,
        ...(opts.trial ? { trialId: opts.trial } : {}),
        ...(opts.alias ? { alias: opts.alias } : {}),
        ...(top !== undefined ? { top } : {}),
      });
      if (!opts.json) {
        const what =
          r.members === null
            ? `trial ${r.trialId}`
            : `an ensemble of ${r.members.length} trials (${r.members.join(', ')})`;
        console.log(
          `promoted ${what} of ${r.studyId} → ${r.model} v${r.version}${r.alias ? ` (${r.alias})` : ''}  [${r.artifactKey}]`,
        );
      }
      console.log(JSON.stringify(r));
    });
}
