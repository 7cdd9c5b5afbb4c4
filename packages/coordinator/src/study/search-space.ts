import { z } from 'zod';
import { HyperparametersSchema } from '@braintune/protocol';
import { didYouMean, formatPath, showValue, zodProblems, type PathSegment } from './problems.js';

/**
 * The search space, in KerasTuner's vocabulary (`Int`, `Float`, `Choice`, `Boolean`, `Fixed`,
 * conditional scopes). Names are hyperparameters of the protocol's `HyperparametersSchema`;
 * nested fields use dotted names (`augmentation.flip`). Whatever the space leaves out keeps its
 * protocol default, so the empty space is the seed CNN. This module parses and validates a
 * space; space-sampling.ts draws from one.
 */

export type ParamValue = string | number | boolean;

const ScalarSchema = z.union([z.string(), z.number(), z.boolean()], {
  error: 'must be a string, a number or a boolean',
});

/** `when: {optimizer: sgd}` or `when: {family: [resnet, cnn]}`: active only for those parent values. */
const WhenSchema = z
  .record(
    z.string(),
    z.union([ScalarSchema, z.array(ScalarSchema).min(1, { error: 'must list at least one value' })]),
  )
  .optional();

const finite = (what: string) =>
  z.number({ error: `must be ${what}` }).refine(Number.isFinite, { error: `must be ${what}` });

export const IntParamSchema = z.strictObject({
  type: z.literal('int'),
  min: finite('an integer').pipe(z.number().int({ error: 'must be an integer' })),
  max: finite('an integer').pipe(z.number().int({ error: 'must be an integer' })),
  step: z
    .number({ error: 'must be an integer ≥ 1' })
    .int({ error: 'must be an integer ≥ 1' })
    .min(1, { error: 'must be an integer ≥ 1' })
    .default(1),
  when: WhenSchema,
});
export const FloatParamSchema = z.strictObject({
  type: z.literal('float'),
  min: finite('a number'),
  max: finite('a number'),
  /** Grid step: added (linear) or multiplied (log), as KerasTuner's Float(step=...). */
  step: z.number({ error: 'must be a number > 0' }).positive({ error: 'must be a number > 0' }).optional(),
  sampling: z.enum(['linear', 'log'], { error: 'must be one of linear, log' }).default('linear'),
  when: WhenSchema,
});
export const ChoiceParamSchema = z.strictObject({
  type: z.literal('choice'),
  values: z
    .array(ScalarSchema, { error: 'must be a list of values' })
    .min(1, { error: 'must list at least one value' }),
  when: WhenSchema,
});
export const BooleanParamSchema = z.strictObject({ type: z.literal('boolean'), when: WhenSchema });
export const FixedParamSchema = z.strictObject({
  type: z.literal('fixed'),
  value: ScalarSchema,
  when: WhenSchema,
});

export const ParamSpecSchema = z.discriminatedUnion(
  'type',
  [IntParamSchema, FloatParamSchema, ChoiceParamSchema, BooleanParamSchema, FixedParamSchema],
  { error: 'type must be one of int, float, choice, boolean, fixed' },
);
export type ParamSpec = z.output<typeof ParamSpecSchema>;
/** Normalised search space: hyperparameter name -> spec; `when` values always lists. */
export type SearchSpace = Record<string, ParamSpec>;

// ---------------------------------------------------------------------------------------------
// The tunable names and what each accepts, read from the protocol schema (never duplicated here).

type AnySchema = z.ZodType;

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = current._zod.def as { type: string; innerType?: AnySchema };
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'nullable') && def.innerType)
      current = def.innerType;
    else return current;
  }
}

/** Every tunable name (dotted for nested objects) and its field schema. */
function tunableFields(): Map<string, AnySchema> {
  const fields = new Map<string, AnySchema>();
  for (const [name, schema] of Object.entries(HyperparametersSchema.shape as Record<string, AnySchema>)) {
    const inner = unwrap(schema) as unknown as { shape?: Record<string, AnySchema> };
    if (inner.shape) {
      for (const [child, childSchema] of Object.entries(inner.shape))
        fields.set(`${name}.${child}`, childSchema);
    } else fields.set(name, schema);
  }
  return fields;
}
const TUNABLE_FIELDS = tunableFields();
export const TUNABLE_NAMES: readonly string[] = [...TUNABLE_FIELDS.keys()];

/** Human description of what a protocol field accepts, e.g. "an integer from 2 to 5". */
function describeField(schema: AnySchema): string {
  const inner = unwrap(schema);
  const def = inner._zod.def as {
    type: string;
    entries?: Record<string, string>;
    options?: AnySchema[];
    values?: unknown[];
  };
  if (def.type === 'number') {
    const number = inner as unknown as z.ZodNumber;
    const kind = number.isInt ? 'an integer' : 'a number';
    const bounded = (v: number | null): v is number => v !== null && Number.isFinite(v) && Math.abs(v) < 1e15;
    const { minValue, maxValue } = number;
    const low = bounded(minValue)
      ? number.safeParse(minValue).success
        ? `≥ ${minValue}`
        : `> ${minValue}`
      : null;
    const high = bounded(maxValue)
      ? number.safeParse(maxValue).success
        ? `≤ ${maxValue}`
        : `< ${maxValue}`
      : null;
    if (low?.startsWith('≥') && high?.startsWith('≤')) return `${kind} from ${minValue} to ${maxValue}`;
    if (low && high) return `${kind} ${low} and ${high}`;
    if (low ?? high) return `${kind} ${low ?? high}`;
    return kind;
  }
  if (def.type === 'boolean') return 'true or false';
  if (def.type === 'enum' && def.entries) return `one of ${Object.values(def.entries).join(', ')}`;
  if (def.type === 'literal' && def.values) return `${def.values.map(String).join(' or ')}`;
  if (def.type === 'union' && def.options) return def.options.map(describeField).join(' or ');
  if (def.type === 'string') return 'a string';
  return def.type;
}

function isIntegerField(schema: AnySchema): boolean {
  const inner = unwrap(schema);
  return inner._zod.def.type === 'number' && ((inner as unknown as z.ZodNumber).isInt ?? false);
}

function isNumberField(schema: AnySchema): boolean {
  return unwrap(schema)._zod.def.type === 'number';
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation.

/** All values a discrete spec can take (null for a continuous float), capped for huge grids. */
export function discreteValues(spec: ParamSpec, cap = 100_000): ParamValue[] | null {
  switch (spec.type) {
    case 'int': {
      const count = Math.floor((spec.max - spec.min) / spec.step) + 1;
      if (count > cap) return null;
      return Array.from({ length: Math.max(0, count) }, (_, k) => spec.min + k * spec.step);
    }
    case 'float': {
      if (spec.step === undefined) return spec.min === spec.max ? [spec.min] : null;
      const values: number[] = [];
      if (spec.sampling === 'log') {
        for (let v = spec.min; v <= spec.max * (1 + 1e-12) && values.length <= cap; v = clean(v * spec.step))
          values.push(v);
      } else {
        for (
          let k = 0;
          spec.min + k * spec.step <= spec.max + 1e-12 * Math.abs(spec.max) && values.length <= cap;
          k++
        ) {
          values.push(clean(spec.min + k * spec.step));
        }
      }
      return values.length > cap ? null : values;
    }
    case 'choice':
      return spec.values;
    case 'boolean':
      return [false, true];
    case 'fixed':
      return [spec.value];
  }
}

/** Removes floating-point noise from grid points (0.1 + 0.2 -> 0.3). */
function clean(value: number): number {
  return Number(value.toPrecision(12));
}

export function sameValue(a: ParamValue, b: ParamValue): boolean {
  return a === b;
}

/** Shorthand: a list is a choice, a bare value is fixed. */
function expandShorthand(raw: unknown): unknown {
  if (Array.isArray(raw)) return { type: 'choice', values: raw };
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean')
    return { type: 'fixed', value: raw };
  return raw;
}

function checkFieldAccepts(
  problems: string[],
  name: string,
  field: AnySchema,
  path: PathSegment[],
  value: ParamValue,
): void {
  if (!field.safeParse(value).success) {
    problems.push(`${formatPath(path)}: got ${showValue(value)}, ${name} must be ${describeField(field)}`);
  }
}

function checkSpecAgainstField(
  problems: string[],
  name: string,
  spec: ParamSpec,
  prefix: PathSegment[],
): void {
  const field = TUNABLE_FIELDS.get(name)!;
  switch (spec.type) {
    case 'int':
    case 'float':
      checkRangeAgainstField(problems, name, field, spec, prefix);
      return;
    case 'choice': {
      spec.values.forEach((value, i) =>
        checkFieldAccepts(problems, name, field, [...prefix, 'values', i], value),
      );
      const seen = new Set<ParamValue>();
      spec.values.forEach((value, i) => {
        if (seen.has(value))
          problems.push(
            `${formatPath([...prefix, 'values', i])}: got ${showValue(value)} twice, values must be distinct`,
          );
        seen.add(value);
      });
      return;
    }
    case 'boolean':
      checkFieldAccepts(problems, name, field, [...prefix, 'type'], true);
      return;
    case 'fixed':
      checkFieldAccepts(problems, name, field, [...prefix, 'value'], spec.value);
      return;
  }
}

/** An int or float range: a numeric field, min ≤ max, a valid log range, and every grid point accepted. */
function checkRangeAgainstField(
  problems: string[],
  name: string,
  field: AnySchema,
  spec: Extract<ParamSpec, { type: 'int' | 'float' }>,
  prefix: PathSegment[],
): void {
  if (!isNumberField(field)) {
    problems.push(
      `${formatPath([...prefix, 'type'])}: got "${spec.type}", ${name} must be ${describeField(field)}; use choice, boolean or fixed`,
    );
    return;
  }
  if (spec.type === 'float' && isIntegerField(field) && spec.min !== spec.max) {
    problems.push(
      `${formatPath([...prefix, 'type'])}: got "float", ${name} must be ${describeField(field)}; use type int`,
    );
    return;
  }
  if (spec.min > spec.max) {
    problems.push(`${formatPath([...prefix, 'max'])}: got ${spec.max}, must be ≥ min (${spec.min})`);
    return;
  }
  if (spec.type === 'float' && spec.sampling === 'log') {
    if (spec.min <= 0)
      problems.push(`${formatPath([...prefix, 'min'])}: got ${spec.min}, log sampling needs min > 0`);
    if (spec.step !== undefined && spec.step <= 1) {
      problems.push(
        `${formatPath([...prefix, 'step'])}: got ${spec.step}, a log step multiplies and must be > 1`,
      );
    }
    if (spec.min <= 0 || (spec.step !== undefined && spec.step <= 1)) return;
  }
  checkFieldAccepts(problems, name, field, [...prefix, 'min'], spec.min);
  checkFieldAccepts(problems, name, field, [...prefix, 'max'], spec.max);
  // Fields such as kernelSize accept some integers of their range only: check every grid point.
  const grid = spec.type === 'int' ? discreteValues(spec, 10_000) : null;
  const bad = grid?.find((value) => !field.safeParse(value).success);
  if (bad !== undefined && field.safeParse(spec.min).success && field.safeParse(spec.max).success) {
    problems.push(
      `${formatPath(prefix)}: the grid contains ${bad}, ${name} must be ${describeField(field)}; use a choice`,
    );
  }
}

/** Declaration order made topological: every parent before its conditional children. */
function orderByConditions(space: SearchSpace, problems: string[], prefix: PathSegment[]): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      problems.push(
        `${formatPath([...prefix, name, 'when'])}: conditions form a cycle (${[...chain, name].join(' -> ')})`,
      );
      return;
    }
    state.set(name, 'visiting');
    for (const parent of Object.keys(space[name]?.when ?? {}))
      if (space[parent]) visit(parent, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(space)) visit(name, []);
  return order;
}

export interface ParsedSearchSpace {
  space: SearchSpace;
  problems: string[];
}

/** Validates a raw `searchSpace` value; every problem is reported with its path under `prefix`. */
export function parseSearchSpace(raw: unknown, prefix: PathSegment[] = ['searchSpace']): ParsedSearchSpace {
  const problems: string[] = [];
  if (raw === undefined || raw === null) return { space: {}, problems };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(
      `${formatPath(prefix)}: got ${showValue(raw)}, must be a map from hyperparameter name to its range`,
    );
    return { space: {}, problems };
  }
  const declared = raw as Record<string, unknown>;
  const space = parseParams(declared, prefix, problems);
  checkConditions(space, Object.keys(declared), prefix, problems);
  const order = orderByConditions(space, problems, prefix);
  const ordered: SearchSpace = {};
  for (const name of order) ordered[name] = space[name]!;
  return { space: ordered, problems };
}

/** Each declared hyperparameter that is a tunable name with a valid range for its field. */
function parseParams(
  declared: Record<string, unknown>,
  prefix: PathSegment[],
  problems: string[],
): SearchSpace {
  const space: SearchSpace = {};
  for (const [name, rawSpec] of Object.entries(declared)) {
    const path = [...prefix, name];
    if (!TUNABLE_FIELDS.has(name)) {
      const suggestion = didYouMean(name, TUNABLE_NAMES);
      problems.push(
        `${formatPath(path)}: unknown hyperparameter, ${suggestion ? `did you mean "${suggestion}"? ` : ''}valid names: ${TUNABLE_NAMES.join(', ')}`,
      );
      continue;
    }
    const expanded = expandShorthand(rawSpec);
    const parsed = ParamSpecSchema.safeParse(expanded);
    if (!parsed.success) {
      problems.push(...zodProblems(parsed.error, ParamSpecSchema, expanded, path));
      continue;
    }
    const spec = parsed.data;
    const before = problems.length;
    checkSpecAgainstField(problems, name, spec, path);
    if (problems.length === before) space[name] = spec;
  }
  return space;
}

/**
 * Conditions need a discrete parent in the space, and values that parent can take. Normalises
 * every `when` value to a list. `declaredNames`: every name the raw space declared, valid or not.
 */
function checkConditions(
  space: SearchSpace,
  declaredNames: string[],
  prefix: PathSegment[],
  problems: string[],
): void {
  for (const [name, spec] of Object.entries(space)) {
    if (!spec.when) continue;
    const when: Record<string, ParamValue | ParamValue[]> = spec.when;
    for (const [parent, wanted] of Object.entries(when)) {
      const path = [...prefix, name, 'when', parent];
      const parentSpec = space[parent];
      if (parent === name) {
        problems.push(`${formatPath(path)}: a hyperparameter cannot depend on itself`);
        continue;
      }
      if (!parentSpec) {
        const declared = declaredNames.filter((n) => n !== name);
        if (declared.includes(parent)) continue; // the parent has its own problem reported above
        const suggestion = didYouMean(parent, declared);
        problems.push(
          `${formatPath(path)}: ${parent} is not in the search space, ${suggestion ? `did you mean "${suggestion}"? ` : ''}a condition needs a searched parent (${declared.length > 0 ? `one of ${declared.join(', ')}` : 'the space has no other parameter'})`,
        );
        continue;
      }
      const possible = discreteValues(parentSpec);
      if (possible === null) {
        problems.push(
          `${formatPath(path)}: ${parent} is a continuous float, a condition needs a discrete parent (choice, boolean, int, fixed or a float with step)`,
        );
        continue;
      }
      const list = Array.isArray(wanted) ? wanted : [wanted];
      list.forEach((value, i) => {
        if (!possible.some((p) => sameValue(p, value))) {
          problems.push(
            `${formatPath(Array.isArray(wanted) ? [...path, i] : path)}: got ${showValue(value)}, ${parent} takes ${possible.slice(0, 12).map(String).join(', ')}${possible.length > 12 ? ', ...' : ''}`,
          );
        }
      });
      when[parent] = list;
    }
  }
}
