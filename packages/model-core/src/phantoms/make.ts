import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { BraintuneError, InvalidInputError } from '@braintune/protocol';
import { LESION_MASK_DIR, encodeLesionMasks, lesionMaskPath } from './masks.js';
import { PHANTOM_CLASSES, renderPhantom } from './render.js';

export const MakePhantomsOptionsSchema = z.object({
  outDir: z.string().min(1),
  perClass: z.number().int().min(1).max(100_000),
  size: z.number().int().min(32).max(1024).default(256),
  seed: z.union([z.number().int(), z.string().min(1)]).default(1),
  /** JPEG quality: the real set is JPEG, so the phantoms carry the same compression artefacts. */
  quality: z.number().int().min(50).max(100).default(90),
  /**
   * Also write each tumour scan's lesion masks as `.lesions/<class>/phantom-NNNNN.png` (hidden, so
   * the ImageFolder scan ignores it): 255 = lesion core, 128 = rest of its extent. Images unchanged.
   */
  masks: z.boolean().default(false),
});
export type MakePhantomsOptions = z.input<typeof MakePhantomsOptionsSchema> & {
  /** Called after each file is written. */
  onProgress?: (done: number, total: number) => void;
};

export interface MakePhantomsResult {
  outDir: string;
  classes: string[];
  perClass: number;
  size: number;
  seed: number | string;
  files: number;
  seconds: number;
  /** The mask folder when masks were written, else null. */
  masksDir: string | null;
}

/** File name of the i-th phantom of a class (1-based, zero-padded so listings sort). */
export function phantomFileName(index: number): string {
  return `phantom-${String(index + 1).padStart(5, '0')}.jpg`;
}

/**
 * Writes an ImageFolder tree `<outDir>/<class>/phantom-NNNNN.jpg` with `perClass` synthetic
 * slices per class. Deterministic: the same options give byte-identical files. Existing class
 * folders are replaced so that a smaller `perClass` does not leave stale files behind.
 */
export async function makePhantoms(options: MakePhantomsOptions): Promise<MakePhantomsResult> {
  const parsed = MakePhantomsOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(
      `invalid phantom options: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
      'perClass ≥ 1, size between 32 and 1024, quality between 50 and 100',
    );
  }
  const { perClass, size, seed, quality, masks } = parsed.data;
  const outDir = path.resolve(parsed.data.outDir);
  const started = performance.now();
  const total = perClass * PHANTOM_CLASSES.length;

  for (const cls of PHANTOM_CLASSES) {
    const dir = path.join(outDir, cls);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
  }
  // Stale masks would pair new images with old lesions: the folder goes whatever `masks` says.
  await rm(path.join(outDir, LESION_MASK_DIR), { recursive: true, force: true });
  if (masks)
    for (const cls of PHANTOM_CLASSES)
      if (cls !== 'no_tumor') await mkdir(path.join(outDir, LESION_MASK_DIR, cls), { recursive: true });

  // Rendering is synchronous JS; encoding runs on libvips threads. Keep a few encodes in flight
  // so both overlap, without holding every image in memory.
  const inFlight = new Set<Promise<void>>();
  const maxInFlight = 4;
  let failure: unknown;
  let done = 0;
  for (let index = 0; index < perClass && failure === undefined; index++) {
    for (const cls of PHANTOM_CLASSES) {
      const phantom = renderPhantom({
        cls,
        size,
        anatomySeed: `${seed}:${cls}:${index}`,
        lesionSeed: `${seed}:${index}`,
      });
      const file = path.join(outDir, cls, phantomFileName(index));
      const writeMask = async () => {
        if (!masks || cls === 'no_tumor') return;
        const png = await encodeLesionMasks({ size, core: phantom.lesionMask, extent: phantom.lesionExtent });
        await writeFile(lesionMaskPath(outDir, cls, phantomFileName(index)), png);
      };
      const task: Promise<void> = sharp(phantom.pixels, { raw: { width: size, height: size, channels: 1 } })
        .jpeg({ quality })
        .toFile(file)
        .then(writeMask)
        .then(
          () => {
            done++;
            options.onProgress?.(done, total);
          },
          (err: unknown) => {
            failure ??= err; // every task settles; the first error is reported once all have
          },
        )
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    }
  }
  await Promise.all(inFlight);
  if (failure !== undefined) {
    throw new BraintuneError(
      `writing phantoms to ${outDir} failed: ${failure instanceof Error ? failure.message : String(failure)}`,
      'phantoms_write_failed',
      'check that the output directory is writable and the disk is not full',
      { cause: failure },
    );
  }

  return {
    outDir,
    classes: [...PHANTOM_CLASSES],
    perClass,
    size,
    seed,
    files: total,
    seconds: (performance.now() - started) / 1000,
    masksDir: masks ? path.join(outDir, LESION_MASK_DIR) : null,
  };
}
