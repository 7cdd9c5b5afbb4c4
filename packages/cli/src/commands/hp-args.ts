import {
  AugmentationSchema,
  HyperparametersSchema,
  InvalidInputError,
  type HyperparametersInput,
} from '@braintune/protocol';
import type { z } from 'zod';

const TOP_KEYS = Object.keys(HyperparametersSchema.shape);
const AUGMENTATION_KEYS = Object.keys(AugmentationSchema.shape);

/** A `--hp` value as JSON when it is JSON (numbers, booleans), else as the raw string. */
function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** What a schema accepts, for error hints ("one of adam, sgd, rmsprop", "a number ≤ 1"). */
function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `allowed values: ${issue.values.map(String).join(', ')}`;
  if (issue.code === 'too_big') return `at most ${String(issue.maximum)}`;
  if (issue.code === 'too_small') return `at least ${String(issue.minimum)}`;
  if (issue.code === 'invalid_union')
    return 'see the allowed values in packages/protocol/src/hyperparameters.ts';
  return issue.message;
}

/**
 * Turns repeated `--hp key=value` flags (dotted keys for augmentation: `augmentation.flip=true`)
 * into hyperparameter overrides, each checked by the shared zod schema: an unknown key or a bad
 * value is an InvalidInputError naming the key and what it accepts.
 */
export function parseHpArgs(pairs: readonly string[]): HyperparametersInput {
  const out: Record<string, unknown> = {};
  const augmentation: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new InvalidInputError(
        `--hp "${pair}" is not key=value`,
        'e.g. --hp learningRate=0.001 --hp augmentation.flip=true',
      );
    const key = pair.slice(0, eq).trim();
    const value = parseValue(pair.slice(eq + 1).trim());
    const [head, sub, ...rest] = key.split('.');
    if (head === 'augmentation' && sub !== undefined && rest.length === 0) {
      if (!AUGMENTATION_KEYS.includes(sub))
        throw new InvalidInputError(
          `unknown hyperparameter "${key}"`,
          `augmentation keys: ${AUGMENTATION_KEYS.map((k) => `augmentation.${k}`).join(', ')}`,
        );
      augmentation[sub] = value;
    } else if (head !== undefined && sub === undefined && TOP_KEYS.includes(head)) {
      out[head] = value;
    } else {
      throw new InvalidInputError(
        `unknown hyperparameter "${key}"`,
        `known keys: ${TOP_KEYS.join(', ')} (augmentation.flip, augmentation.rotation, …)`,
      );
    }
  }
  if (Object.keys(augmentation).length > 0) out['augmentation'] = augmentation;
  // Validate each given key on its own so the error names it, whatever the preset fills in.
  const partial = HyperparametersSchema.partial().safeParse(out);
  if (!partial.success) {
    const issue = partial.error.issues[0] as z.core.$ZodIssue;
    const key = issue.path.join('.');
    const given = issue.path.reduce<unknown>(
      (v, p) => (v as Record<PropertyKey, unknown> | undefined)?.[p],
      out,
    );
    throw new InvalidInputError(
      `--hp ${key}=${JSON.stringify(given)}: ${issue.message}`,
      `${key}: ${describeIssue(issue)}`,
    );
  }
  return out as HyperparametersInput;
}
