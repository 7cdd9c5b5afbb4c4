import { buildProgram, type CommandModule } from './program.js';
import { reportError } from './run.js';

// One line per command module; keep sorted.
const modules: CommandModule[] = [];

try {
  const program = await buildProgram(modules);
  await program.parseAsync(process.argv);
} catch (err) {
  reportError(err);
}
