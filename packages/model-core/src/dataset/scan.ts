import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '@braintune/protocol';

export interface SourceFile {
  /** Path relative to the data directory, '/'-separated (stable across platforms). */
  relPath: string;
  absPath: string;
  label: number;
}

export interface ScannedFolder {
  classes: string[];
  files: SourceFile[];
  /** Entries that are not inside a class folder, or hidden files (listed, never fatal). */
  ignored: { path: string; reason: string }[];
}

const HINT =
  'pass an ImageFolder directory: one sub-folder per class (its name is the class name), each holding JPEG/PNG images';

/**
 * Lists an ImageFolder directory: class names are the sub-folder names, sorted by code point
 * (so the label order never depends on the locale); files inside a class folder are found recursively.
 */
export async function scanImageFolder(dataDir: string): Promise<ScannedFolder> {
  const root = path.resolve(dataDir);
  let rootStat;
  try {
    rootStat = await stat(root);
  } catch {
    throw new InvalidInputError(`data directory ${root} does not exist`, HINT);
  }
  if (!rootStat.isDirectory()) throw new InvalidInputError(`data path ${root} is not a directory`, HINT);

  const classes: string[] = [];
  const ignored: ScannedFolder['ignored'] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue; // .DS_Store, .git, …: never data
    const full = path.join(root, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(full)).isDirectory());
    if (isDir) classes.push(entry.name);
    else ignored.push({ path: entry.name, reason: 'not inside a class folder' });
  }
  classes.sort(compareCodePoints);
  if (classes.length === 0) {
    throw new InvalidInputError(`data directory ${root} has no class sub-folders`, HINT);
  }
  if (classes.length > 256) {
    throw new InvalidInputError(
      `data directory ${root} has ${classes.length} class folders; at most 256 fit in uint8 labels`,
      HINT,
    );
  }

  const files: SourceFile[] = [];
  for (const [label, className] of classes.entries()) {
    const found = await listFilesRecursively(path.join(root, className), ignored, root);
    if (found.length === 0) {
      throw new InvalidInputError(
        `class folder ${path.join(root, className)} is empty`,
        `add images of class "${className}" to it, or remove the folder if that class is not wanted`,
      );
    }
    for (const absPath of found) {
      files.push({ relPath: path.relative(root, absPath).split(path.sep).join('/'), absPath, label });
    }
  }
  files.sort((a, b) => a.label - b.label || compareCodePoints(a.relPath, b.relPath));
  return { classes, files, ignored };
}

async function listFilesRecursively(
  dir: string,
  ignored: ScannedFolder['ignored'],
  root: string,
): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.name.startsWith('.')) {
      ignored.push({ path: path.relative(root, full).split(path.sep).join('/'), reason: 'hidden file' });
      continue;
    }
    const info = entry.isSymbolicLink() ? await stat(full) : entry;
    if (info.isDirectory()) out.push(...(await listFilesRecursively(full, ignored, root)));
    else if (info.isFile()) out.push(full);
  }
  return out;
}

export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
