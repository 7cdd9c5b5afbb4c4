import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeScan, MAX_INPUT_PIXELS, preprocessImage, type PreprocessingInput } from './preprocess.js';

/** A 96×64 greyscale "head" (bright ellipse on black) with a lesion, as PNG or JPEG. */
async function phantom(format: 'png' | 'jpeg', alpha = false): Promise<Buffer> {
  const [w, h] = [96, 64];
  const px = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const inHead = ((x - 48) / 36) ** 2 + ((y - 32) / 26) ** 2 < 1;
      const lesion = (x - 60) ** 2 + (y - 28) ** 2 < 40;
      px[y * w + x] = inHead ? (lesion ? 240 : 110 + ((x * 3 + y * 5) % 40)) : 0;
    }
  const image = sharp(px, { raw: { width: w, height: h, channels: 1 } });
  if (alpha) image.ensureAlpha(0.5);
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 90 }).toBuffer();
}

const settings: PreprocessingInput[] = [
  { grayscale: true, resize: 'contain', kernel: 'lanczos3', imageSize: 32 },
  { grayscale: true, resize: 'fill', kernel: 'cubic', imageSize: 48, intensity: 'percentile' },
  { grayscale: true, resize: 'contain', kernel: 'lanczos3', imageSize: 32, headCrop: true },
];

describe('an upload decoded once', () => {
  it('gives every preprocessing exactly the pixels the encoded PNG gives', async () => {
    for (const alpha of [false, true]) {
      const png = await phantom('png', alpha);
      const decoded = await decodeScan(png);
      expect([decoded.format, decoded.width, decoded.height]).toEqual(['png', 96, 64]);
      for (const p of settings)
        expect(Buffer.from(await preprocessImage(decoded, p))).toEqual(
          Buffer.from(await preprocessImage(png, p)),
        );
    }
  });

  it('gives a JPEG the same pixels up to rounding (the file path may shrink on load)', async () => {
    const jpeg = await phantom('jpeg');
    const decoded = await decodeScan(jpeg);
    for (const p of settings) {
      const a = await preprocessImage(decoded, p);
      const b = await preprocessImage(jpeg, p);
      const diffs = Array.from(a, (v, i) => Math.abs(v - (b[i] as number)));
      // Edges of the lesion move by a few levels; the image as a whole by well under one.
      expect(Math.max(...diffs), JSON.stringify(p)).toBeLessThanOrEqual(16);
      expect(diffs.reduce((s, d) => s + d, 0) / diffs.length, JSON.stringify(p)).toBeLessThan(1);
    }
  });

  it('refuses non-images and images over the pixel limit before decoding their pixels', async () => {
    await expect(decodeScan(Buffer.from('not an image'))).rejects.toThrow(/not an image/);
    // A PNG header claiming 8000×8000 (64 MP) with almost no data: refused from the header.
    const huge = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: '#000' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(8000 * 8000).toBeGreaterThan(MAX_INPUT_PIXELS);
    await expect(decodeScan(huge)).rejects.toThrow(/pixel limit|exceeds/i);
  });
});
