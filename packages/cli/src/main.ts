import { buildProgram, type CommandModule } from './program.js';
import { reportError } from './run.js';

// One line per command module; keep sorted. Imported lazily: a command loads only its own
// dependencies (TensorFlow, sharp, the dashboard are heavy), so `braintune worker` with a wrong
// REDIS_URL fails in a second or two instead of after loading everything.
const modules: Record<string, () => Promise<CommandModule>> = {
  coordinator: () => import('./commands/coordinator.js'),
  dashboard: () => import('./commands/dashboard.js'),
  evaluate: () => import('./commands/evaluate.js'),
  leaderboard: () => import('./commands/leaderboard.js'),
  'make-phantoms': () => import('./commands/make-phantoms.js'),
  migrate: () => import('./commands/migrate.js'),
  models: () => import('./commands/models.js'),
  predict: () => import('./commands/predict.js'),
  promote: () => import('./commands/promote.js'),
  status: () => import('./commands/status.js'),
  submit: () => import('./commands/submit.js'),
  train: () => import('./commands/train.js'),
  up: () => import('./commands/up.js'),
  worker: () => import('./commands/worker.js'),
};

try {
  // The first argument naming a command picks it; help and mistakes load them all.
  const named = process.argv.slice(2).find((arg) => Object.hasOwn(modules, arg));
  const wanted = named ? [modules[named]!] : Object.values(modules);
  const program = await buildProgram(await Promise.all(wanted.map((load) => load())));
  await program.parseAsync(process.argv);
} catch (err) {
  reportError(err);
}
