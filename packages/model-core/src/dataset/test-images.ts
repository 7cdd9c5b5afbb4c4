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
