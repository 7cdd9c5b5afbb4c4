import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Runs the braintune CLI from its TypeScript sources, as `npm run braintune -- …` does. */
async function braintune(args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'packages/cli/src/main.ts', ...args],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: 'silent', COLUMNS: '200', NO_COLOR: '1' },
      timeout: 60_000,
    },
  );
  return stdout;
}

/** Sub-command names listed by `braintune --help` (commander's "Commands:" section). */
export function parseCommands(help: string): string[] {
  const section = help.split(/^Commands:\s*$/m)[1] ?? '';
  const names: string[] = [];
  for (const line of section.split('\n')) {
    const match = /^ {2}([a-z][\w-]*)(?:\|[\w-]+)?\b/.exec(line);
    if (match) names.push(match[1]!);
    else if (line.trim() !== '' && !/^ {3,}/.test(line)) break; // end of the section
  }
  return names.filter((n) => n !== 'help');
}

/** Long option names (`--per-class`) listed by `braintune <command> --help`. */
export function parseOptions(help: string): string[] {
  const section = help.split(/^Options:\s*$/m)[1] ?? '';
  const flags = new Set<string>();
  for (const line of section.split('\n')) {
    const match = /^ {2}(?:-\w, )?(--[\w-]+)/.exec(line);
    if (match) flags.add(match[1]!);
  }
  return [...flags];
}

let commands: Promise<string[]> | undefined;
const options = new Map<string, Promise<string[]>>();

/** The real command list, read from the CLI at run time (so it follows main.ts). */
export function cliCommands(): Promise<string[]> {
  commands ??= braintune(['--help']).then(parseCommands);
  return commands;
}

export function cliOptions(command: string): Promise<string[]> {
  let cached = options.get(command);
  if (!cached) {
    cached = braintune([command, '--help']).then(parseOptions);
    options.set(command, cached);
  }
  return cached;
}

/**
 * Problems with an argv given to the braintune entrypoint (`["worker", "--concurrency", "1"]`):
 * an unknown command or an option the command does not declare.
 */
export async function checkInvocation(argv: readonly string[], where: string): Promise<string[]> {
  const [command, ...rest] = argv;
  if (!command) return [`${where}: no command`];
  const known = await cliCommands();
  if (!known.includes(command))
    return [`${where}: "braintune ${command}" is not a CLI command (known: ${known.join(', ')})`];
  const declared = await cliOptions(command);
  const problems = rest
    .filter((arg) => arg.startsWith('--'))
    .map((arg) => arg.split('=')[0]!)
    .filter((flag) => !declared.includes(flag))
    .map((flag) => `${where}: "braintune ${command}" has no option ${flag} (it has: ${declared.join(' ')})`);
  // A server that binds 127.0.0.1 by default is unreachable from outside its container.
  if (declared.includes('--host')) {
    const i = rest.indexOf('--host');
    const host = i >= 0 ? rest[i + 1] : rest.find((a) => a.startsWith('--host='))?.slice('--host='.length);
    if (host !== '0.0.0.0')
      problems.push(
        `${where}: "braintune ${command}" must listen on all interfaces in a container (--host 0.0.0.0)`,
      );
  }
  return problems;
}
