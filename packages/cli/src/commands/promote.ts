import type { Command } from 'commander';
import { promote } from '../registry/client.js';

/** `braintune promote STUDY [--trial ID] [--model NAME] [--alias production] [--json]` */
export function register(program: Command): void {
  program
    .command('promote')
    .description(
      "copy a trial's checkpoint into the model registry as a new version (default: the study's best trial)",
    )
    .argument('<study>', 'study id')
    .option('--trial <id>', 'trial id (default: the best completed trial)')
    .option('--model <name>', 'model name in the registry', 'brain-mri')
    .option('--alias <alias>', 'point this alias (e.g. production, staging) at the new version')
    .option('--json', 'print the result as JSON')
    .action(
      async (studyId: string, opts: { trial?: string; model: string; alias?: string; json?: boolean }) => {
        const r = await promote({
          studyId,
          model: opts.model,
          ...(opts.trial ? { trialId: opts.trial } : {}),
          ...(opts.alias ? { alias: opts.alias } : {}),
        });
        if (!opts.json)
          console.log(
            `promoted trial ${r.trialId} of ${r.studyId} → ${r.model} v${r.version}${r.alias ? ` (${r.alias})` : ''}  [${r.artifactKey}]`,
          );
        console.log(JSON.stringify(r));
      },
    );
}
