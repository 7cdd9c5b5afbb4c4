import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Absolute paths of one machine (a home directory, this workplace's /work tree) make examples
 * and docs fail on every other machine: examples use paths relative to the repository or
 * placeholders. The patterns are assembled so this file does not match itself.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const slash = '/';
export const MACHINE_PATH = new RegExp(
  [
    `(?<![\\w.~-])${slash}work${slash}`,
    `${slash}home${slash}[a-z_][a-z0-9_-]*${slash}`,
    `(?<![\\w.-])${slash}root${slash}`,
    `${slash}Users${slash}[A-Za-z]`,
    `[A-Za-z]:\\\\Users\\\\`,
  ].join('|'),
);

const BINARY = /\.(png|jpe?g|gif|ico|wasm|woff2?|bin|gz)$/i;

function trackedTextFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\0').filter((f) => f !== '' && !BINARY.test(f) && f !== 'package-lock.json');
}

describe('no absolute machine paths in tracked files', () => {
  it('the pattern catches the usual forms and spares relative ones', () => {
    for (const bad of [
      `${slash}work${slash}shared/data`,
      `${slash}home${slash}alice/x`,
      `${slash}root${slash}.cache`,
      `${slash}Users${slash}Bob/x`,
      'C:\\Users\\bob',
    ])
      expect(bad).toMatch(MACHINE_PATH);
    for (const fine of ['../shared/datasets/x', './work/x', 'src/home.ts', '/tmp/x', 'my.root/x'])
      expect(fine).not.toMatch(MACHINE_PATH);
  });

  it('finds none in `git ls-files`', () => {
    const found: string[] = [];
    for (const file of trackedTextFiles()) {
      let text: string;
      try {
        text = readFileSync(path.join(ROOT, file), 'utf8');
      } catch {
        continue; // deleted in the work tree but still in the index
      }
      text.split('\n').forEach((line, i) => {
        if (MACHINE_PATH.test(line)) found.push(`${file}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(found, 'replace these with paths relative to the repository or placeholders').toEqual([]);
  });
});
