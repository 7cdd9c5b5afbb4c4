import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

/** The repository root (the CLI runs from its sources there, as `npm run braintune` does). */
const REPO = resolve(import.meta.dirname, '../../..');
const MAIN = 'packages/cli/src/main.ts';
const run = promisify(execFile);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `braintune ARGS` as its own process from the sources, in the repository root, with
 * `env` (default: this process's). Never throws on a non-zero exit: tests read the code.
 */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', MAIN, ...args],
      { cwd: REPO, env, maxBuffer: 10 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The JSON object a command prints as its last stdout line (`--json`). */
export const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;

/** The environment of a local training command: its own artifact root, the wasm backend, warnings only. */
export const localTrainingEnv = (artifactRoot: string): NodeJS.ProcessEnv => ({
  ...process.env,
  ARTIFACT_ROOT: artifactRoot,
  LOG_LEVEL: 'warn',
  BRAINTUNE_BACKEND: 'wasm',
});
