import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTrainingEnv, runCli } from '../../test/run-cli.js';
import { parseHpArgs } from './hp-args.js';

const CLASSES = ['glioma_tumor', 'no_tumor'];
let dir: string;

const braintune = (args: string[]) => runCli(args, localTrainingEnv(join(dir, 'artifacts')));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'braintune-cli-train-'));
  // A tiny ImageFolder: bright disc (glioma) vs. empty slice, names with spaces and parentheses.
  for (const [c, name] of CLASSES.entries()) {
    await mkdir(join(dir, 'data', name), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const pixels = Buffer.alloc(24 * 24, 10 + i);
      if (c === 0)
        for (let y = 8; y < 16; y++)
          for (let x = 6 + (i % 4); x < 14 + (i % 4); x++) pixels[y * 24 + x] = 220;
      await sharp(pixels, { raw: { width: 24, height: 24, channels: 1 } })
        .png()
        .toFile(join(dir, 'data', name, `scan (${i}).png`));
    }
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('braintune train / predict', () => {
  it('trains, prints the report and a JSON summary, and the checkpoint serves predict', async () => {
    const out = join(dir, 'ckpt');
    const trained = await braintune([
      'train',
      '--data',
      join(dir, 'data'),
      '--image-size',
      '16',
      '--epochs',
      '2',
      '--json',
      '--hp',
      'convBlocks=2',
      '--hp',
      'baseFilters=4',
      '--hp',
      'augmentation.rotation=5',
      '--hp',
      'preprocessing.cropMargin=0.1',
      '--head-crop',
      '--intensity',
      'percentile',
      '--out',
      out,
    ]);
    expect(trained.code, trained.stderr).toBe(0);
    const lines = trained.stdout.trim().split('\n');
    expect(trained.stdout).toMatch(/precision\s+recall\s+f1-score\s+support/);
    expect(trained.stdout).toMatch(/macro avg/);
    const summary = JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
    expect(summary).toMatchObject({
      backend: 'wasm',
      imageSize: 16,
      epochs: 2,
      classes: CLASSES,
      checkpoint: out,
    });
    for (const key of ['trainImagesPerSecond', 'valAccuracy', 'valMacroF1'])
      expect(typeof summary[key]).toBe('number');
    expect(Object.keys(summary.perClass as object)).toEqual(CLASSES);
    // The fixture's scans differ only in brightness and a shift: near duplicates, so groups.
    const split = summary.split as Record<string, number>;
    expect(Object.keys(split).sort()).toEqual([
      'crossClassPairs',
      'groups',
      'nearDuplicatePairs',
      'train',
      'val',
    ]);
    expect(split.train! + split.val!).toBe(20);
    expect(split.groups).toBeGreaterThan(0);
    expect(trained.stdout).toMatch(/split: \d+ train \/ \d+ val \(near-duplicates within 8 bits grouped/);
    expect((summary.confusionMatrix as number[][]).flat().reduce((a, b) => a + b, 0)).toBe(split.val);
    const hparams = summary.hparams as { augmentation: { rotation: number }; preprocessing: object };
    expect(hparams.augmentation.rotation).toBe(5);
    expect(hparams.preprocessing).toEqual({ headCrop: true, cropMargin: 0.1, intensity: 'percentile' });
    // Temperature scaling and the operating point, fitted on validation and stored with the checkpoint.
    const calibration = summary.calibration as Record<string, number>;
    for (const key of [
      'temperature',
      'eceBefore',
      'eceAfter',
      'threshold',
      'referralRate',
      'acceptedErrorRate',
    ])
      expect(typeof calibration[key], key).toBe('number');
    expect(calibration.temperature).toBeGreaterThan(0);
    expect(trained.stdout).toMatch(/calibration: temperature [\d.]+, ECE [\d.]+ → [\d.]+/);
    expect(trained.stdout).toMatch(/operating point: refer below confidence/);

    const predicted = await braintune([
      'predict',
      join(dir, 'data', 'no_tumor', 'scan (1).png'),
      '--checkpoint',
      out,
      '--json',
    ]);
    expect(predicted.code, predicted.stderr).toBe(0);
    const result = JSON.parse(predicted.stdout.trim().split('\n').pop() as string) as {
      threshold: number;
      predictions: {
        predicted: string;
        decision: string;
        refer: boolean;
        probabilities: Record<string, number>;
      }[];
    };
    expect(result.predictions).toHaveLength(1);
    expect(result.threshold).toBeCloseTo(calibration.threshold!, 4);
    const p = result.predictions[0]!;
    expect(p.decision).toBe(p.refer ? 'refer' : p.predicted);
    expect(Object.keys(result.predictions[0]?.probabilities ?? {})).toEqual(CLASSES);
  }, 120_000);

  it('rejects a bad --hp value naming the key and the allowed values', async () => {
    const bad = await braintune(['train', '--data', join(dir, 'data'), '--hp', 'optimizer=adamw']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/optimizer/);
    expect(bad.stderr).toMatch(/adam, sgd, rmsprop/);
  }, 60_000);

  it('parses --hp values as JSON when they are JSON and validates each key', () => {
    expect(
      parseHpArgs(['learningRate=0.01', 'convBatchNorm=true', 'pooling=gap', 'augmentation.flip=true']),
    ).toEqual({
      learningRate: 0.01,
      convBatchNorm: true,
      pooling: 'gap',
      augmentation: { flip: true },
    });
    expect(() => parseHpArgs(['learningrate=0.1'])).toThrow(/unknown hyperparameter "learningrate"/);
    expect(() => parseHpArgs(['augmentation.blurr=1'])).toThrow(
      /unknown hyperparameter "augmentation.blurr"/,
    );
    expect(parseHpArgs(['preprocessing.headCrop=true', 'preprocessing.intensity=clahe'])).toEqual({
      preprocessing: { headCrop: true, intensity: 'clahe' },
    });
    expect(() => parseHpArgs(['preprocessing.intensity=gamma'])).toThrow(/preprocessing.intensity/);
    expect(() => parseHpArgs(['convBlocks'])).toThrow(/not key=value/);
    expect(() => parseHpArgs(['convBlocks=9'])).toThrow(/convBlocks=9/);
  });
});
