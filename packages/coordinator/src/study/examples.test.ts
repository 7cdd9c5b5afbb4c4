import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundleVariantsOf } from './bundles.js';
import { parseStudyConfig } from './config.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** Every study config a user is pointed at, plus the benchmarks' frozen search space. */
async function shippedConfigs(): Promise<string[]> {
  const examples = (await readdir(path.join(REPO, 'examples')))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join('examples', f));
  return [...examples, path.join('bench', 'data', 'search-space.yaml')];
}

describe('shipped study configs', () => {
  it('parse and validate as they are (a broken example is the first thing a new user meets)', async () => {
    const files = await shippedConfigs();
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const config = parseStudyConfig(await readFile(path.join(REPO, file), 'utf8'));
      expect(config.name, file).toBeTruthy();
    }
  });

  it('the brain MRI example searches the generalising preprocessing: head crop, standardised intensities', async () => {
    const text = await readFile(path.join(REPO, 'examples', 'brain-tumor-mri.yaml'), 'utf8');
    const variants = bundleVariantsOf(parseStudyConfig(text));
    expect(variants.length).toBe(2);
    for (const v of variants) {
      expect(v.preprocessing.headCrop).toBe(true);
      expect(v.preprocessing.intensity).not.toBe('none');
    }
  });
});
