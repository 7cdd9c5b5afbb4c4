import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from './split.js';

/** Test helper: a PNG/JPEG of seeded noise, so every call with a new seed gives different bytes. */
export async function noiseImage(options: {
  seed: number;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  format: 'png' | 'jpeg';
}): Promise<Buffer> {
  const random = mulberry32(options.seed);
  const raw = Buffer.alloc(options.width * options.height * options.channels);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(random() * 256);
  const image = sharp(raw, {
    raw: { width: options.width, height: options.height, channels: options.channels },
  });
  return options.format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 90 }).toBuffer();
}

/** A solid-colour image (all pixels one value): its greyscale value after any resize is known. */
export async function solidImage(
  width: number,
  height: number,
  grey: number,
  format: 'png' | 'jpeg' = 'png',
): Promise<Buffer> {
  const image = sharp({ create: { width, height, channels: 3, background: { r: grey, g: grey, b: grey } } });
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 100 }).toBuffer();
}

export async function writeFiles(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/**
 * Test helper: a scan-like greyscale raw image (black background, a bright oval "head" with
 * seeded blobs of other greys inside), so perceptual hashes of different seeds differ and
 * survive resizing. Returns raw one-channel pixels of `size` × `size`.
 */
export function scanLikePixels(seed: number, size = 256): Uint8Array {
  const random = mulberry32(seed);
  const pixels = new Uint8Array(size * size);
  const fill = (cx: number, cy: number, rx: number, ry: number, grey: number): void => {
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1) pixels[y * size + x] = grey;
  };
  const c = size / 2;
  fill(c, c, size * (0.3 + 0.12 * random()), size * (0.35 + 0.1 * random()), 150 + Math.floor(60 * random()));
  for (let k = 0; k < 8; k++) {
    fill(
      c + (random() - 0.5) * size * 0.4,
      c + (random() - 0.5) * size * 0.5,
      size * (0.04 + 0.1 * random()),
      size * (0.04 + 0.1 * random()),
      Math.floor(255 * random()),
    );
  }
  return pixels;
}
