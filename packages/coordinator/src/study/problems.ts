import { InvalidInputError } from '@braintune/protocol';
import type { z } from 'zod';

/**
 * Helpers that turn validation failures into one line per problem:
 * `<field path>: got <value>, <what is allowed>`.
 */

export type PathSegment = string | number;

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out === '' ? '(root)' : out;
}

/** A short, single-line rendering of a user-supplied value. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The value at `path` in raw input, for messages. */
export function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let current: unknown = data;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PathSegment, unknown>)[segment];
  }
  return current;
}

function levenshtein(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** The closest candidate when it is plausibly a typo of `word`. */
export function didYouMean(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === word.toLowerCase() ? 0 : levenshtein(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== null && bestDistance <= Math.max(2, Math.floor(word.length / 3))) return best;
  // Abbreviations such as valFrac -> valFraction.
  const lower = word.toLowerCase();
  return word.length >= 3
    ? (candidates.find((candidate) => candidate.toLowerCase().startsWith(lower)) ?? null)
    : null;
}

export function unknownKeyProblem(
  path: readonly PathSegment[],
  key: string,
  allowed: readonly string[],
): string {
  const suggestion = didYouMean(key, allowed);
  const hint = suggestion ? `did you mean "${suggestion}"? ` : '';
  return `${formatPath([...path, key])}: unknown key, ${hint}allowed: ${allowed.join(', ')}`;
}

/** The object schema reached by following `path` through objects, arrays, wrappers and discriminated unions. */
function schemaAt(schema: z.ZodType, path: readonly PathSegment[], data: unknown): z.ZodType | null {
  let current: z.ZodType = schema;
  let value: unknown = data;
  for (let i = 0; i <= path.length; i++) {
    // Unwrap optional / default / nullable / pipes until we reach a structural schema.
    for (;;) {
      const def = current._zod.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
      if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable') && def.innerType) {
        current = def.innerType;
      } else if (def.type === 'pipe' && def.in) {
        current = def.in;
      } else break;
    }
    const def = current._zod.def as {
      type: string;
      discriminator?: string;
      options?: z.ZodType[];
    };
    if (def.type === 'union' && def.options) {
      const discriminator = def.discriminator;
      const chosen = def.options.find((option) => {
        const shape = (option as unknown as { shape?: Record<string, z.ZodType> }).shape;
        if (!shape || discriminator === undefined || value === null || typeof value !== 'object')
          return false;
        return (
          shape[discriminator]?.safeParse((value as Record<string, unknown>)[discriminator]).success ?? false
        );
      });
      if (!chosen) return null;
      current = chosen;
    }
    if (i === path.length) return current;
    const segment = path[i]!;
    const structural = current as unknown as {
      shape?: Record<string, z.ZodType>;
      element?: z.ZodType;
      _zod: { def: { type: string; valueType?: z.ZodType } };
    };
    if (structural.shape && typeof segment === 'string' && structural.shape[segment])
      current = structural.shape[segment];
    else if (structural.element) current = structural.element;
    else if (structural._zod.def.type === 'record' && structural._zod.def.valueType)
      current = structural._zod.def.valueType;
    else return null;
    value = valueAt(value, [segment]);
  }
  return current;
}

/** Lines for every zod issue, with `prefix` prepended to each path. */
export function zodProblems(
  error: z.ZodError,
  schema: z.ZodType,
  data: unknown,
  prefix: readonly PathSegment[] = [],
): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const path = issue.path.filter((s): s is PathSegment => typeof s !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const target = schemaAt(schema, path, data);
      const shape = (target as unknown as { shape?: Record<string, unknown> } | null)?.shape;
      const allowed = shape ? Object.keys(shape) : [];
      for (const key of issue.keys) lines.push(unknownKeyProblem([...prefix, ...path], key, allowed));
      continue;
    }
    const value = valueAt(data, path);
    const message =
      value === undefined && issue.code === 'invalid_type' ? `is required, ${issue.message}` : issue.message;
    lines.push(`${formatPath([...prefix, ...path])}: got ${showValue(value)}, ${message}`);
  }
  return lines;
}

/** One error listing every problem of a study config. */
export class StudyConfigError extends InvalidInputError {
  constructor(readonly problems: readonly string[]) {
    super(
      `invalid study config (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems
        .map((line) => `  - ${line}`)
        .join('\n')}`,
      'each line names the field path, the value found and what is allowed; see docs/hyperband.md for an example config',
    );
  }
}
