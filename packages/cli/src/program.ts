import { Command } from 'commander';
import { InvalidInputError, LogFormatSchema } from '@braintune/protocol';

/**
 * Every sub-command lives in its own module under ./commands and exports
 * `register(program)`; this list is the only place that knows them all.
 */
export type CommandModule = { register(program: Command): void };

export async function buildProgram(modules: CommandModule[]): Promise<Command> {
  const program = new Command('braintune')
    .description('Distributed hyperparameter tuning for medical image classifiers')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true })
    .option(
      '--log-format <format>',
      'json | pretty (default: LOG_FORMAT, else pretty when stderr is a terminal and json otherwise)',
    )
    .hook('preAction', (root) => {
      const raw = root.opts<{ logFormat?: string }>().logFormat;
      if (raw === undefined) return;
      const format = LogFormatSchema.safeParse(raw);
      if (!format.success)
        throw new InvalidInputError(
          `--log-format must be json or pretty, got "${raw}"`,
          'e.g. --log-format json',
        );
      // Through the environment so worker processes started by `up` follow it too.
      process.env.LOG_FORMAT = format.data;
    });
  for (const m of modules) m.register(program);
  return program;
}
