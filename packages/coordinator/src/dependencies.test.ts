import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The coordinator does no image or tensor work (workers prepare data sets and train): neither
 * its sources nor any package it depends on, directly or through a workspace package, may
 * reach model-core, sharp or TensorFlow.js.
 */
const PACKAGES = fileURLToPath(new URL('../../', import.meta.url));
const FORBIDDEN = [/^@braintune\/model-core(\/|$)/, /^sharp(\/|$)/, /^@tensorflow\//];
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

const forbidden = (name: string): boolean => FORBIDDEN.some((re) => re.test(name));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.(ts|tsx|js|mjs)$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

/** Every module specifier a source file imports (static, dynamic, side-effect, require). */
function importsOf(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => m[1]!);
}

interface Reach {
  /** Workspace packages reached from the start, by folder name. */
  packages: string[];
  /** "where: what" for every forbidden dependency or import found. */
  violations: string[];
  /** Every specifier imported by the sources of the reached packages. */
  imported: Set<string>;
}

/** Walks a workspace package's dependency graph (through @braintune/* packages) and its sources. */
async function reach(start: string): Promise<Reach> {
  const result: Reach = { packages: [], violations: [], imported: new Set() };
  const queue = [start];
  while (queue.length > 0) {
    const folder = queue.shift()!;
    if (result.packages.includes(folder)) continue;
    result.packages.push(folder);
    const manifest = JSON.parse(
      await readFile(path.join(PACKAGES, folder, 'package.json'), 'utf8'),
    ) as Record<string, Record<string, string> | undefined>;
    const deps = ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies'].flatMap(
      (field) => Object.keys(manifest[field] ?? {}),
    );
    for (const dep of deps) {
      if (forbidden(dep)) result.violations.push(`${folder}/package.json: ${dep}`);
      // Forbidden packages are followed too, so a test can show what they would bring in.
      if (dep.startsWith('@braintune/')) queue.push(dep.slice('@braintune/'.length));
    }
    for (const file of await sourceFiles(path.join(PACKAGES, folder, 'src'))) {
      for (const spec of importsOf(await readFile(file, 'utf8'))) {
        result.imported.add(spec);
        if (forbidden(spec)) result.violations.push(`${path.relative(PACKAGES, file)}: imports ${spec}`);
      }
    }
  }
  return result;
}

describe('the coordinator dependency graph', () => {
  it('reaches neither model-core, sharp nor TensorFlow.js, by package.json or by import', async () => {
    const coordinator = await reach('coordinator');
    expect(coordinator.violations).toEqual([]);
    // The walk really read the graph: it followed workspace packages and saw real imports.
    expect(coordinator.packages).toEqual(expect.arrayContaining(['coordinator', 'protocol', 'artifacts']));
    expect(coordinator.imported).toContain('drizzle-orm');
    expect(coordinator.imported).toContain('@braintune/protocol');
  });

  it('would catch them: the worker, which trains, is reported', async () => {
    const worker = await reach('worker');
    expect(worker.violations).toContain('worker/package.json: @braintune/model-core');
    expect(worker.violations).toContain('worker/src/preparer.ts: imports @braintune/model-core/dataset');
    expect(worker.violations).toContain('model-core/package.json: sharp');
    // Built from parts, so this file's own text does not import them.
    const q = "'";
    const sample = `const m = await import(${q}@tensorflow/tfjs-core${q});\nimport ${q}sharp${q};`;
    expect(importsOf(sample)).toEqual(['@tensorflow/tfjs-core', 'sharp']);
  });
});
