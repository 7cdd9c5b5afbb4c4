import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { dataRootsOf } from './env.js';
import { InvalidInputError } from './errors.js';

/**
 * The one gate between a client-supplied data path (`dataset.path`, `evaluation.testSets[].path`)
 * and the filesystem: anyone who can submit a study chooses the path, so it must resolve inside a
 * configured data root, and the tree below it must stay there and stay small enough to read.
 */

export interface DataPathLimits {
  /** Files in the whole tree (default 500 000). */
  maxFiles: number;
  /** Bytes in the whole tree (default 50 GiB). */
  maxBytes: number;
  /** Directory nesting below the data path (default 16). */
  maxDepth: number;
}

export const DEFAULT_DATA_PATH_LIMITS: DataPathLimits = {
  maxFiles: 500_000,
  maxBytes: 50 * 1024 ** 3,
  maxDepth: 16,
};

export interface DataPathOptions {
  /** Allowed roots as configured (default: BRAINTUNE_DATA_ROOTS, else ./data and the demo folder). */
  roots?: readonly string[];
  /** Relative paths and roots resolve against this (default: the working directory). */
  cwd?: string;
  limits?: Partial<DataPathLimits>;
  /** What the path is, for messages (default `dataset.path`). */
  field?: string;
}

export interface ResolvedDataPath {
  /** Real path of the directory: read the data from here. */
  realPath: string;
  /** The root it lies in, as configured. */
  root: string;
  files: number;
  bytes: number;
}

/** A data path refused; the message names the path as given and the roots as configured, nothing else. */
export class DataPathError extends InvalidInputError {}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

interface Root {
  configured: string;
  lexical: string;
  real: string | null;
}

async function rootsOf(configured: readonly string[], cwd: string): Promise<Root[]> {
  return Promise.all(
    configured.map(async (r) => {
      const lexical = path.resolve(cwd, r);
      const real = await realpath(lexical).catch(() => null);
      return { configured: r, lexical, real };
    }),
  );
}

/**
 * Resolves `requested` to a real directory inside one of the data roots and walks its tree:
 * refuses (DataPathError, a 400) a path outside every root (decided before touching the
 * filesystem), a symbolic link that leads out of the root, a directory loop, and a tree over
 * the file, byte or depth limits. Returns the real path to read from.
 */
export async function resolveDataPath(
  requested: string,
  options: DataPathOptions = {},
): Promise<ResolvedDataPath> {
  const field = options.field ?? 'dataset.path';
  const configured = options.roots ?? dataRootsOf();
  const limits = { ...DEFAULT_DATA_PATH_LIMITS, ...options.limits };
  const allowed = configured.join(', ') || '(none)';
  const hint = `put the data under one of the allowed data roots (${allowed}), or have the operator add its folder to BRAINTUNE_DATA_ROOTS`;
  const refuse = (why: string): DataPathError =>
    new DataPathError(`${field} ${JSON.stringify(requested)} ${why}`, hint);

  if (requested.includes('\0')) throw refuse('contains a NUL byte');
  const cwd = options.cwd ?? process.cwd();
  const roots = await rootsOf(configured, cwd);
  const lexical = path.resolve(cwd, requested);
  // Lexical check first: a path outside every root is refused without a single filesystem call,
  // so the answer never depends on whether it exists.
  const candidates = roots.filter((r) => inside(lexical, r.lexical) || (r.real && inside(lexical, r.real)));
  if (candidates.length === 0) throw refuse(`is outside the allowed data roots (${allowed})`);

  const real = await realpath(lexical).catch(() => null);
  if (real === null) throw refuse('does not exist inside the data roots');
  const root = candidates.find((r) => r.real !== null && inside(real, r.real));
  if (!root?.real) throw refuse('leaves its data root through a symbolic link');
  const info = await stat(real);
  if (!info.isDirectory()) throw refuse('is not a directory');

  const totals = await walkTree(real, root.real, limits, refuse);
  return { realPath: real, root: root.configured, ...totals };
}

/** Depth-first walk with lstat: every symlink must stay in the root, every directory is entered once. */
async function walkTree(
  top: string,
  rootReal: string,
  limits: DataPathLimits,
  refuse: (why: string) => DataPathError,
): Promise<{ files: number; bytes: number }> {
  const seen = new Set<string>();
  let files = 0;
  let bytes = 0;
  const stack: { dir: string; depth: number }[] = [{ dir: top, depth: 0 }];
  while (stack.length > 0) {
    const { dir, depth } = stack.pop()!;
    const id = await stat(dir);
    const key = `${id.dev}:${id.ino}`;
    if (seen.has(key))
      throw refuse('reaches one folder twice through symbolic links (a loop or a duplicate link)');
    seen.add(key);
    if (depth > limits.maxDepth)
      throw refuse(`is nested deeper than ${limits.maxDepth} folders; flatten the data set`);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      let target = full;
      let info = await lstat(full);
      if (info.isSymbolicLink()) {
        const resolved = await realpath(full).catch(() => null);
        if (resolved === null) continue; // dangling: the scanner skips it too
        if (!inside(resolved, rootReal)) throw refuse('contains a symbolic link that leaves its data root');
        target = resolved;
        info = await stat(resolved);
      }
      if (info.isDirectory()) stack.push({ dir: target, depth: depth + 1 });
      else if (info.isFile()) {
        files += 1;
        bytes += info.size;
        if (files > limits.maxFiles)
          throw refuse(`holds more than ${limits.maxFiles} files; split the data set or raise the limit`);
        if (bytes > limits.maxBytes)
          throw refuse(`holds more than ${limits.maxBytes} bytes; split the data set or raise the limit`);
      }
    }
  }
  return { files, bytes };
}
