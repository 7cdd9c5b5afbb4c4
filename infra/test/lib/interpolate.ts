import { readFileSync } from 'node:fs';

/** KEY=value lines of a dotenv file (comments and blank lines skipped). */
export function readDotenv(file: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`${file}: cannot parse line "${raw}"`);
    vars.set(match[1]!, match[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return vars;
}

const PATTERN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Names of the variables a compose string interpolates (`$$` is a literal dollar). */
export function referencedVariables(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(PATTERN)) {
    const name = m[1] ?? m[4];
    if (name) names.push(name);
  }
  return names;
}

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
export function interpolate(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(
    PATTERN,
    (
      whole,
      braced: string | undefined,
      op: string | undefined,
      arg: string | undefined,
      bare: string | undefined,
    ) => {
      if (whole === '$$') return '$';
      const name = (braced ?? bare)!;
      const value = env.get(name);
      const unsetOrEmpty = value === undefined || value === '';
      switch (op) {
        case ':-':
          return unsetOrEmpty ? interpolate(arg ?? '', env) : value;
        case '-':
          return value === undefined ? interpolate(arg ?? '', env) : value;
        case ':?':
          if (unsetOrEmpty) throw new Error(`required variable ${name} is unset: ${arg}`);
          return value;
        case '?':
          if (value === undefined) throw new Error(`required variable ${name} is unset: ${arg}`);
          return value;
        default:
          return value ?? '';
      }
    },
  );
}

/** Applies interpolate() to every string in a parsed YAML tree. */
export function interpolateTree(node: unknown, env: ReadonlyMap<string, string>): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => interpolateTree(n, env));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateTree(v, env)]));
  }
  return node;
}

/** Every string in a parsed YAML tree (for collecting variable references). */
export function allStrings(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(allStrings);
  if (node && typeof node === 'object') return Object.values(node).flatMap(allStrings);
  return [];
}
