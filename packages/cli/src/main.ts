import * as coordinatorCmd from './commands/coordinator.js';
import * as dashboardCmd from './commands/dashboard.js';
import * as evaluateCmd from './commands/evaluate.js';
import * as leaderboardCmd from './commands/leaderboard.js';
import * as makePhantoms from './commands/make-phantoms.js';
import * as migrateCmd from './commands/migrate.js';
import * as modelsCmd from './commands/models.js';
import * as predictCmd from './commands/predict.js';
import * as promoteCmd from './commands/promote.js';
import * as statusCmd from './commands/status.js';
import * as submitCmd from './commands/submit.js';
import * as trainCmd from './commands/train.js';
import * as upCmd from './commands/up.js';
import * as workerCmd from './commands/worker.js';
import { buildProgram, type CommandModule } from './program.js';
import { reportError } from './run.js';

// One line per command module; keep sorted.
const modules: CommandModule[] = [
  coordinatorCmd,
  dashboardCmd,
  evaluateCmd,
  leaderboardCmd,
  makePhantoms,
  migrateCmd,
  modelsCmd,
  predictCmd,
  promoteCmd,
  statusCmd,
  submitCmd,
  trainCmd,
  upCmd,
  workerCmd,
];

try {
  const program = await buildProgram(modules);
  await program.parseAsync(process.argv);
} catch (err) {
  reportError(err);
}
