import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { InvalidInputError } from '@braintune/protocol';
import { ACQUISITION_SHIFTS, applyAcquisitionShift } from './acquisition-shift.js';
import { sniffImageFormat } from './preprocess.js';

const W = 64;
const H = 48;

/** A grey RGB image: black border of 8 px, a horizontal ramp inside, a bright 4×4 checker patch. */
async function scan(): Promise<Buffer> {
  const raw = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inside = x >= 8 && x < W - 8 && y >= 8 && y < H - 8;
      let v = inside ? Math.round(40 + (180 * (x - 8)) / (W - 17)) : 0;
      if (x >= 20 && x < 28 && y >= 20 && y < 28) v = (x + y) % 2 === 0 ? 250 : 30;
      raw.fill(v, (y * W + x) * 3, (y * W + x) * 3 + 3);
    }
  return sharp(raw, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
}

async function grey(bytes: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(bytes).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

const at = (img: { data: Buffer; width: number }, x: number, y: number): number =>
  img.data[y * img.width + x] as number;

describe('applyAcquisitionShift', () => {
  it('gamma follows 255·(v/255)^γ: 0.6 brightens, 1.6 darkens, black stays black', async () => {
    const original = await grey(await scan());
    for (const gamma of [0.6, 1.6]) {
      const out = await grey(await applyAcquisitionShift(await scan(), { kind: 'gamma', gamma }));
      const v = at(original, 40, 30);
      expect(Math.abs(at(out, 40, 30) - 255 * (v / 255) ** gamma)).toBeLessThanOrEqual(1);
      expect(at(out, 0, 0)).toBe(0);
    }
  });

  it('contrast scales distances from the mean: ×0.6 narrows, ×1.4 widens the range', async () => {
    const original = await grey(await scan());
    // Two interior pixels close enough to the mean that ×1.4 does not clip them.
    const range = (img: { data: Buffer; width: number }): number =>
      Math.abs(at(img, 36, 30) - at(img, 16, 30));
    const low = await grey(await applyAcquisitionShift(await scan(), { kind: 'contrast', factor: 0.6 }));
    const high = await grey(await applyAcquisitionShift(await scan(), { kind: 'contrast', factor: 1.4 }));
    expect(range(low)).toBeCloseTo(range(original) * 0.6, -0.5);
    expect(range(high)).toBeCloseTo(range(original) * 1.4, -0.5);
    // The mean is a fixed point: black (below the mean) gets lighter under ×0.6.
    expect(at(low, 0, 0)).toBeGreaterThan(0);
  });

  it('blur smooths the checker patch', async () => {
    const original = await grey(await scan());
    const out = await grey(await applyAcquisitionShift(await scan(), { kind: 'blur', sigmaFraction: 0.03 }));
    const swing = (img: { data: Buffer; width: number }): number =>
      Math.abs(at(img, 24, 24) - at(img, 25, 24));
    expect(swing(original)).toBeGreaterThan(200);
    expect(swing(out)).toBeLessThan(swing(original) / 2);
  });

  it('crop removes 15 % of each side length, half on each side; padding adds it in black', async () => {
    const cropped = await grey(await applyAcquisitionShift(await scan(), { kind: 'crop', fraction: 0.15 }));
    expect([cropped.width, cropped.height]).toEqual([W - Math.round(W * 0.15), H - Math.round(H * 0.15)]);
    const padded = await grey(await applyAcquisitionShift(await scan(), { kind: 'pad', fraction: 0.15 }));
    expect([padded.width, padded.height]).toEqual([W + Math.round(W * 0.15), H + Math.round(H * 0.15)]);
    expect(at(padded, 0, padded.height - 1)).toBe(0);
    // The original centre pixel moves by the left/top pad.
    const original = await grey(await scan());
    expect(
      at(padded, 40 + Math.floor(Math.round(W * 0.15) / 2), 30 + Math.floor(Math.round(H * 0.15) / 2)),
    ).toBe(at(original, 40, 30));
  });

  it('invert swaps the order of grey levels inside the head, keeps its mean and the black background', async () => {
    const original = await grey(await scan());
    const out = await grey(await applyAcquisitionShift(await scan(), { kind: 'invert' }));
    const inside: [number, number][] = [];
    for (let y = 8; y < H - 8; y++) for (let x = 8; x < W - 8; x++) inside.push([x, y]);
    const mean = (img: typeof out): number =>
      inside.reduce((s, [x, y]) => s + at(img, x, y), 0) / inside.length;
    expect(at(out, 2, 2)).toBe(0);
    expect(Math.abs(mean(out) - mean(original))).toBeLessThan(2);
    // The ramp rises left to right; inverted, it falls; the checker's bright squares turn dark.
    expect(at(original, 50, 30)).toBeGreaterThan(at(original, 12, 30));
    expect(at(out, 50, 30)).toBeLessThan(at(out, 12, 30));
    expect(at(out, 20, 20)).toBeLessThan(at(out, 21, 20));
  });

  it('jpeg re-encodes as a JPEG at the given quality (lossy), every other shift as PNG', async () => {
    const q30 = await applyAcquisitionShift(await scan(), { kind: 'jpeg', quality: 30 });
    const q95 = await applyAcquisitionShift(await scan(), { kind: 'jpeg', quality: 95 });
    expect(sniffImageFormat(q30)).toBe('jpeg');
    expect(q30.length).toBeLessThan(q95.length);
    const original = await grey(await scan());
    const decoded = await grey(q30);
    let error = 0;
    for (let i = 0; i < original.data.length; i++)
      error += Math.abs((original.data[i] as number) - (decoded.data[i] as number));
    expect(error / original.data.length).toBeGreaterThan(1);
    for (const { shift } of ACQUISITION_SHIFTS.filter((s) => s.shift.kind !== 'jpeg'))
      expect(sniffImageFormat(await applyAcquisitionShift(await scan(), shift))).toBe('png');
  });

  it('is deterministic, and rejects non-images and bad parameters with a clear error', async () => {
    for (const { shift } of ACQUISITION_SHIFTS) {
      const a = await applyAcquisitionShift(await scan(), shift);
      const b = await applyAcquisitionShift(await scan(), shift);
      expect(a.equals(b)).toBe(true);
    }
    await expect(
      applyAcquisitionShift(Buffer.from('not an image'), { kind: 'gamma', gamma: 2 }),
    ).rejects.toThrow(InvalidInputError);
    await expect(applyAcquisitionShift(await scan(), { kind: 'gamma', gamma: -1 })).rejects.toThrow(/gamma/);
  });
});
