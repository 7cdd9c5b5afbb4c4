import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '@braintune/protocol';
import { makePhantoms } from '@braintune/model-core/phantoms';

export interface DemoPhantomSpec {
  perClass: number;
  size: number;
  seed: number;
}

/** Written next to a finished phantom directory; its presence means the set is complete. */
const MarkerSchema = z.object({
  perClass: z.number().int(),
  size: z.number().int(),
  seed: z.number().int(),
  files: z.number().int(),
});

/**
 * Directory of the demo phantoms for one spec. The spec is part of the name so that changing
 * `--demo-per-class` never mixes sets, and a repeated demo reuses its set (and, through the
 * content-addressed dataset bundle, skips preparation too).
 */
export function demoPhantomDir(demoRoot: string, spec: DemoPhantomSpec): string {
  return path.join(demoRoot, 'phantoms', `${spec.perClass}x${spec.size}px-seed${spec.seed}`);
}

async function readMarker(file: string): Promise<z.infer<typeof MarkerSchema> | null> {
  try {
    const parsed = MarkerSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Generates the demo's phantoms unless a complete set for the same spec exists. The marker
 * is written last, so a generation interrupted half-way is redone rather than reused.
 */
export async function ensureDemoPhantoms(
  demoRoot: string,
  spec: DemoPhantomSpec,
  log: Logger,
): Promise<{ dir: string; generated: boolean; seconds: number }> {
  const dir = demoPhantomDir(demoRoot, spec);
  const markerFile = `${dir}.json`;
  const marker = await readMarker(markerFile);
  if (marker && marker.perClass === spec.perClass && marker.size === spec.size && marker.seed === spec.seed) {
    log.info({ dir }, 'reusing demo phantoms');
    return { dir, generated: false, seconds: 0 };
  }
  await rm(markerFile, { force: true });
  const result = await makePhantoms({
    outDir: dir,
    perClass: spec.perClass,
    size: spec.size,
    seed: spec.seed,
    masks: true, // lesion masks let the demo's models be checked with the pointing game
  });
  await writeFile(markerFile, JSON.stringify({ ...spec, files: result.files }) + '\n');
  log.info({ dir, files: result.files, seconds: result.seconds }, 'generated demo phantoms');
  return { dir, generated: true, seconds: result.seconds };
}
