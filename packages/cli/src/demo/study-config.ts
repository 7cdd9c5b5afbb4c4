import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError } from '@braintune/protocol';
import { parseStudyConfig } from '@braintune/coordinator';

export { DEFAULT_DEMO_CONFIG } from './options.js';

/**
 * Reads a study config (YAML or JSON) and points its `dataset.path` at the generated phantoms.
 * It is validated here, before anything starts, so a broken file fails fast with the coordinator's
 * own error (naming the field); the returned object is what gets POSTed to the API.
 */
export async function loadDemoStudy(file: string, phantomDir: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(
      `cannot read the demo study config ${file}: ${(err as Error).message}`,
      'pass an existing YAML/JSON study with --demo-config, or run from a clone that has examples/',
    );
  }
  const raw: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidInputError(
      `${file} is not a study config (a mapping with name, dataset, scheduler, …)`,
      'see examples/demo-phantoms.yaml',
    );
  }
  const config = raw as Record<string, unknown>;
  const dataset =
    typeof config.dataset === 'object' && config.dataset !== null
      ? (config.dataset as Record<string, unknown>)
      : {};
  const study = { ...config, dataset: { ...dataset, path: phantomDir } };
  parseStudyConfig(JSON.stringify(study), 'json');
  return study;
}
