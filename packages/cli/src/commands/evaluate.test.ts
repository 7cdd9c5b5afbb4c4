import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJson, localTrainingEnv, runCli } from '../../test/run-cli.js';

const CLASSES = ['glioma_tumor', 'no_tumor'];
let dir: string;

const braintune = (args: string[]) => runCli(args, localTrainingEnv(join(dir, 'artifacts')));

/** A bright square (glioma) or an empty slice; `shift` moves the square, `grey` the background. */
async function scan(file: string, tumour: boolean, shift: number, grey: number): Promise<void> {
  const pixels = Buffer.alloc(24 * 24, grey);
  if (tumour)
    for (let y = 8; y < 16; y++) for (let x = 4 + shift; x < 12 + shift; x++) pixels[y * 24 + x] = 220;
  await sharp(pixels, { raw: { width: 24, height: 24, channels: 1 } })
    .png()
    .toFile(file);
}

async function folder(root: string, classes: Record<string, number>, seed: number): Promise<void> {
  for (const [name, n] of Object.entries(classes)) {
    await mkdir(join(root, name), { recursive: true });
    for (let i = 0; i < n; i++)
      await scan(
        join(root, name, `scan (${i}).png`),
        name === 'glioma_tumor',
        (i * 3 + seed) % 8,
        5 + ((i * 7 + seed) % 40),
      );
  }
}

interface Score {
  accuracy: number;
  macroF1: number;
  perClass: Record<string, { precision: number; recall: number; f1: number; support: number }>;
  confusionMatrix: number[][];
  images: number;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'braintune-cli-evaluate-'));
  await folder(join(dir, 'data'), { glioma_tumor: 10, no_tumor: 10 }, 0);
  // The test set differs from training (other shifts and backgrounds) so errors are possible.
  await folder(join(dir, 'test'), { glioma_tumor: 7, no_tumor: 5 }, 5);
  await folder(join(dir, 'subset'), { no_tumor: 4 }, 3);
  await folder(join(dir, 'unknown'), { glioma_tumor: 2, astrocytoma: 2 }, 1);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('braintune evaluate / train --test', () => {
  it('train --test equals evaluate --checkpoint, and both equal a computation from predict', async () => {
    const ckpt = join(dir, 'ckpt');
    const trained = await braintune([
      'train',
      '--data',
      join(dir, 'data'),
      '--image-size',
      '16',
      '--epochs',
      '2',
      '--hp',
      'convBlocks=2',
      '--hp',
      'baseFilters=4',
      '--out',
      ckpt,
      '--test',
      join(dir, 'test'),
      '--json',
    ]);
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stdout).toMatch(/test set .*test:/);
    const test = lastJson<{ test: Score }>(trained.stdout).test;
    expect(test.images).toBe(12);

    const evaluated = await braintune([
      'evaluate',
      '--checkpoint',
      ckpt,
      '--data',
      join(dir, 'test'),
      '--json',
    ]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toMatch(/precision\s+recall\s+f1-score\s+support/);
    const line = lastJson<Score & { classes: string[] }>(evaluated.stdout);
    expect(line.classes).toEqual(CLASSES);
    const { accuracy, macroF1, perClass, confusionMatrix, images } = line;
    expect({ accuracy, macroF1, perClass, confusionMatrix, images }).toEqual(test);

    // The figures again, from the per-image predictions of `braintune predict`.
    const files = CLASSES.flatMap((c, label) =>
      Array.from({ length: label === 0 ? 7 : 5 }, (_, i) => ({
        path: join(dir, 'test', c, `scan (${i}).png`),
        label,
      })),
    );
    const predicted = await braintune([
      'predict',
      ...files.map((f) => f.path),
      '--checkpoint',
      ckpt,
      '--json',
    ]);
    expect(predicted.code, predicted.stderr).toBe(0);
    const preds = lastJson<{ predictions: { predicted: string }[] }>(predicted.stdout).predictions;
    const matrix = [
      [0, 0],
      [0, 0],
    ];
    preds.forEach((p, i) => (matrix[files[i]!.label]![CLASSES.indexOf(p.predicted)]! += 1));
    expect(confusionMatrix).toEqual(matrix);
    const [[a, b], [c, d]] = matrix as [[number, number], [number, number]];
    expect(accuracy).toBeCloseTo((a + d) / 12, 4);
    const f1 = (tp: number, fp: number, fn: number): number => (tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn));
    expect(macroF1).toBeCloseTo((f1(a, c, b) + f1(d, b, c)) / 2, 4);
    expect(perClass.glioma_tumor?.recall).toBeCloseTo(a / 7, 4);

    // A subset of the classes is allowed; macro-F1 averages only the class present.
    const subset = await braintune([
      'evaluate',
      '--checkpoint',
      ckpt,
      '--data',
      join(dir, 'subset'),
      '--json',
    ]);
    expect(subset.code, subset.stderr).toBe(0);
    const sub = lastJson<Score>(subset.stdout);
    expect(sub.images).toBe(4);
    expect(sub.perClass.glioma_tumor?.support).toBe(0);
    expect(sub.macroF1).toBeCloseTo(sub.perClass.no_tumor?.f1 ?? -1, 4);

    // A class folder the model does not know is a clear error naming it.
    const unknown = await braintune(['evaluate', '--checkpoint', ckpt, '--data', join(dir, 'unknown')]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/"astrocytoma" that the model does not know/);
    expect(unknown.stderr).toMatch(/model classes: glioma_tumor, no_tumor/);
  }, 240_000);

  it('train --test with a misnamed class folder fails before training', async () => {
    const bad = await braintune([
      'train',
      '--data',
      join(dir, 'data'),
      '--image-size',
      '16',
      '--epochs',
      '1',
      '--test',
      join(dir, 'unknown'),
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/astrocytoma/);
    expect(bad.stdout).not.toMatch(/checkpoint:/);
  }, 120_000);
});
