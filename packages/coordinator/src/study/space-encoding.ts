import type { Hyperparameters } from '@braintune/protocol';
import { discreteValues, type ParamSpec, type ParamValue, type SearchSpace } from './search-space.js';
import { isActive, type Assignment } from './space-sampling.js';

/**
 * The search space as coordinates a model can work in: every numeric parameter (int, float,
 * linear or log) maps to [0, 1] (log parameters in log space), every choice or boolean to the
 * index of its value. Fixed parameters have no coordinate. Conditional parameters keep their
 * coordinate; an assignment simply has no value for them where they are inactive.
 */

export interface NumericDim {
  kind: 'numeric';
  name: string;
  spec: ParamSpec;
  log: boolean;
  lo: number;
  hi: number;
  /** Sorted allowed values for int and stepped floats (null: continuous). */
  grid: number[] | null;
}
export interface CategoricalDim {
  kind: 'categorical';
  name: string;
  spec: ParamSpec;
  values: ParamValue[];
}
export interface FixedDim {
  kind: 'fixed';
  name: string;
  spec: ParamSpec;
  value: ParamValue;
}
export type Dim = NumericDim | CategoricalDim | FixedDim;

/** One coordinate per searched parameter, in the space's order (parents before children). */
export function encodeSpace(space: SearchSpace): Dim[] {
  return Object.entries(space).map(([name, spec]): Dim => {
    switch (spec.type) {
      case 'int':
      case 'float': {
        if (spec.min === spec.max) return { kind: 'fixed', name, spec, value: spec.min };
        const log = spec.type === 'float' && spec.sampling === 'log';
        const grid = discreteValues(spec, 100_000) as number[] | null;
        const t = (v: number): number => (log ? Math.log(v) : v);
        return { kind: 'numeric', name, spec, log, lo: t(spec.min), hi: t(spec.max), grid };
      }
      case 'choice':
        return spec.values.length === 1
          ? { kind: 'fixed', name, spec, value: spec.values[0]! }
          : { kind: 'categorical', name, spec, values: spec.values };
      case 'boolean':
        return { kind: 'categorical', name, spec, values: [false, true] };
      case 'fixed':
        return { kind: 'fixed', name, spec, value: spec.value };
    }
  });
}

/** Coordinate of a value: [0, 1] for numeric dimensions, the value's index for categorical ones. */
export function toCoordinate(dim: NumericDim | CategoricalDim, value: ParamValue): number | null {
  if (dim.kind === 'categorical') {
    const at = dim.values.findIndex((v) => v === value);
    return at < 0 ? null : at;
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || (dim.log && value <= 0)) return null;
  const t = dim.log ? Math.log(value) : value;
  return Math.min(1, Math.max(0, (t - dim.lo) / (dim.hi - dim.lo)));
}

/** The value at a [0, 1] coordinate: the nearest grid point, or a continuous value (6 digits). */
export function fromUnit(dim: NumericDim, u: number): number {
  const clamped = Math.min(1, Math.max(0, u));
  const t = dim.lo + clamped * (dim.hi - dim.lo);
  const value = dim.log ? Math.exp(t) : t;
  const { spec } = dim;
  const min = spec.type === 'int' || spec.type === 'float' ? spec.min : 0;
  const max = spec.type === 'int' || spec.type === 'float' ? spec.max : 1;
  if (dim.grid) return nearest(dim.grid, value, dim.log);
  // As the random sampler: six significant digits, clamped into the range.
  return Math.min(max, Math.max(min, Number(value.toPrecision(6))));
}

function nearest(grid: number[], value: number, log: boolean): number {
  let low = 0;
  let high = grid.length - 1;
  while (high - low > 1) {
    const mid = (low + high) >>> 1;
    if (grid[mid]! <= value) low = mid;
    else high = mid;
  }
  const d = (g: number): number => (log ? Math.abs(Math.log(g) - Math.log(value)) : Math.abs(g - value));
  return d(grid[low]!) <= d(grid[high]!) ? grid[low]! : grid[high]!;
}

/** Value of a (possibly dotted) hyperparameter name in a full hyperparameter set. */
export function valueOf(hp: Hyperparameters, name: string): ParamValue | undefined {
  const dot = name.indexOf('.');
  const record = hp as unknown as Record<string, unknown>;
  const raw =
    dot < 0
      ? record[name]
      : (record[name.slice(0, dot)] as Record<string, unknown> | undefined)?.[name.slice(dot + 1)];
  return typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean' ? raw : undefined;
}

/** The searched values of a trial: active parameters only, in the space's order. */
export function assignmentOf(space: SearchSpace, hp: Hyperparameters): Assignment {
  const assignment: Assignment = new Map();
  for (const [name, spec] of Object.entries(space)) {
    if (!isActive(spec, assignment)) continue;
    const value = valueOf(hp, name);
    if (value !== undefined) assignment.set(name, value);
  }
  return assignment;
}
