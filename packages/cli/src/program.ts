import { Command } from 'commander';

/**
 * Every sub-command lives in its own module under ./commands and exports
 * `register(program)`; this list is the only place that knows them all.
 */
export type CommandModule = { register(program: Command): void };

export async function buildProgram(modules: CommandModule[]): Promise<Command> {
  const program = new Command('braintune')
    .description('Distributed hyperparameter tuning for medical image classifiers')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  for (const m of modules) m.register(program);
  return program;
}
