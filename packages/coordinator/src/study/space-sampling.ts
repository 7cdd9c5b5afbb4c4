import { createHash } from 'node:crypto';
import { HyperparametersSchema, type Hyperparameters } from '@braintune/protocol';
import { mixSeed, mulberry32, type Prng } from './prng.js';
import {
  discreteValues,
  sameValue,
  type ParamSpec,
  type ParamValue,
  type SearchSpace,
} from './search-space.js';

/*
 * Drawing from a parsed search space (search-space.ts): seeded samples, the full enumeration of
 * a discrete space, and the stable hash that tells two hyperparameter sets apart.
 */

export type Assignment = Map<string, ParamValue>;

export function isActive(spec: ParamSpec, assignment: ReadonlyMap<string, ParamValue>): boolean {
  if (!spec.when) return true;
  return Object.entries(spec.when).every(([parent, values]) => {
    if (!assignment.has(parent)) return false;
    const value = assignment.get(parent)!;
    return (Array.isArray(values) ? values : [values]).some((v) => sameValue(v, value));
  });
}

function sampleOne(spec: ParamSpec, prng: Prng): ParamValue {
  switch (spec.type) {
    case 'int':
      return spec.min + prng.nextInt(Math.floor((spec.max - spec.min) / spec.step) + 1) * spec.step;
    case 'float': {
      if (spec.step !== undefined) {
        const grid = discreteValues(spec)!;
        return grid[prng.nextInt(grid.length)]!;
      }
      const u = prng.next();
      const value =
        spec.sampling === 'log'
          ? Math.exp(Math.log(spec.min) + u * (Math.log(spec.max) - Math.log(spec.min)))
          : spec.min + u * (spec.max - spec.min);
      // Six significant digits keep leaderboards readable; clamping keeps the rounding inside the range.
      return Math.min(spec.max, Math.max(spec.min, Number(value.toPrecision(6))));
    }
    case 'choice':
      return spec.values[prng.nextInt(spec.values.length)]!;
    case 'boolean':
      return prng.next() < 0.5;
    case 'fixed':
      return spec.value;
  }
}

/** Builds full, validated hyperparameters (defaults for everything the assignment leaves out). */
export function toHyperparameters(assignment: Iterable<[string, ParamValue]>): Hyperparameters {
  const input: Record<string, unknown> = {};
  for (const [name, value] of assignment) {
    const dot = name.indexOf('.');
    if (dot < 0) input[name] = value;
    else {
      const group = name.slice(0, dot);
      const nested = (input[group] ?? {}) as Record<string, unknown>;
      nested[name.slice(dot + 1)] = value;
      input[group] = nested;
    }
  }
  return HyperparametersSchema.parse(input);
}

/** One draw from the space (parents before children; inactive children keep their defaults). */
export function sampleAssignment(space: SearchSpace, prng: Prng): Assignment {
  const assignment: Assignment = new Map();
  for (const [name, spec] of Object.entries(space)) {
    if (isActive(spec, assignment)) assignment.set(name, sampleOne(spec, prng));
  }
  return assignment;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Stable identity of a hyperparameter set: sha256 of canonical JSON (keys sorted at every level). */
export function hashHyperparameters(hp: Hyperparameters): string {
  return createHash('sha256').update(canonicalJson(hp)).digest('hex');
}

/**
 * Every point of a discrete space (conditional children only where active), or null when the
 * space is continuous or larger than `cap` points.
 */
export function enumerateSpace(space: SearchSpace, cap = 50_000): Assignment[] | null {
  const entries = Object.entries(space);
  const domains = entries.map(([, spec]) => discreteValues(spec, cap));
  if (domains.some((d) => d === null)) return null;
  const points: Assignment[] = [];
  let overflow = false;
  const walk = (i: number, assignment: Assignment): void => {
    if (overflow) return;
    if (i === entries.length) {
      if (points.length >= cap) overflow = true;
      else points.push(new Map(assignment));
      return;
    }
    const [name, spec] = entries[i]!;
    if (!isActive(spec, assignment)) return walk(i + 1, assignment);
    for (const value of domains[i]!) {
      assignment.set(name, value);
      walk(i + 1, assignment);
      assignment.delete(name);
    }
  };
  walk(0, new Map());
  return overflow ? null : points;
}

/**
 * How many distinct hyperparameter sets the space holds: the size of its enumeration, or null
 * when it is unbounded (a continuous float) or larger than `cap` (as good as unbounded here).
 */
export function countConfigurations(space: SearchSpace, cap = 50_000): number | null {
  return enumerateSpace(space, cap)?.length ?? null;
}

export interface Proposal {
  hyperparameters: Hyperparameters;
  hpHash: string;
}

/** KerasTuner's `_max_collisions`: random redraws before falling back to enumeration. */
export const MAX_COLLISIONS = 20;

/**
 * Seeded proposals that never repeat a set already tried (KerasTuner's `_tried_so_far`).
 * Deterministic in (seed, trial index, tried hashes); `null` means the space is exhausted.
 */
export class SearchSpaceSampler {
  private enumeration: Assignment[] | null | undefined;

  constructor(
    readonly space: SearchSpace,
    readonly seed: number,
  ) {}

  propose(trialIndex: number, tried: ReadonlySet<string>): Proposal | null {
    for (let attempt = 0; attempt <= MAX_COLLISIONS; attempt++) {
      const prng = mulberry32(mixSeed(this.seed, trialIndex, attempt));
      const hyperparameters = toHyperparameters(sampleAssignment(this.space, prng));
      const hpHash = hashHyperparameters(hyperparameters);
      if (!tried.has(hpHash)) return { hyperparameters, hpHash };
    }
    // Small discrete spaces: pick deterministically among the points not tried yet, so a
    // nearly-full space is used up completely instead of giving up after unlucky redraws.
    if (this.enumeration === undefined) this.enumeration = enumerateSpace(this.space);
    if (this.enumeration === null) return null;
    const untried: Proposal[] = [];
    for (const point of this.enumeration) {
      const hyperparameters = toHyperparameters(point);
      const hpHash = hashHyperparameters(hyperparameters);
      if (!tried.has(hpHash)) untried.push({ hyperparameters, hpHash });
    }
    if (untried.length === 0) return null;
    return untried[mulberry32(mixSeed(this.seed, trialIndex, -1)).nextInt(untried.length)]!;
  }
}
