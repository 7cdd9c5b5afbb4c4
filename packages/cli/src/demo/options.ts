import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** The flags of `up --demo`, apart from the demo itself so `up` loads it only when asked. */

/** `examples/demo-phantoms.yaml` of the repository (same relative place from src/ and dist/). */
export const DEFAULT_DEMO_CONFIG = fileURLToPath(
  new URL('../../../../examples/demo-phantoms.yaml', import.meta.url),
);

/** Demo defaults, sized so the whole demo finishes well within 10 minutes on 2 cores. */
export const DEMO_DEFAULTS = { perClass: 150, size: 128, seed: 1 } as const;

export interface DemoCliOptions {
  demo?: boolean;
  exitWhenDone?: boolean;
  demoConfig?: string;
  demoPerClass?: string;
  demoSize?: string;
}

export function addDemoOptions(command: Command): Command {
  return command
    .option(
      '--demo',
      'generate synthetic MRI phantoms and run a small Hyperband study on them (examples/demo-phantoms.yaml)',
    )
    .option(
      '--exit-when-done',
      'with --demo: stop the cluster and exit once the study ends (when stdout is not a terminal, its last line is the JSON result)',
    )
    .option(
      '--demo-config <file>',
      'with --demo: the study config to run on the phantoms',
      DEFAULT_DEMO_CONFIG,
    )
    .option('--demo-per-class <n>', 'with --demo: phantoms per class', String(DEMO_DEFAULTS.perClass))
    .option('--demo-size <px>', 'with --demo: phantom side length in pixels', String(DEMO_DEFAULTS.size));
}
