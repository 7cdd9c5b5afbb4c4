import { readFile } from 'node:fs/promises';
import type { ManifestFile } from './manifest.js';
import { hashToHex, perceptualHash, type PerceptualHash } from './near-duplicates.js';
import { mapWithConcurrency } from './pool.js';
import type { HashedFile } from './bundle-inputs.js';
import { ImageDecodeError, decodeImage, type DecodedImage, type Preprocessing } from './preprocess.js';
import { compareCodePoints } from './scan.js';

export interface Decoded {
  image: DecodedImage;
  /** Perceptual hash of the original file (null when near-duplicates are off). */
  phash: PerceptualHash | null;
}

/**
 * Decodes each distinct file once (copies have identical bytes, hence identical pixels and
 * hashes); a file that is not a usable image maps to the reason, for the manifest's skip list.
 */
export async function decodeDistinct(
  candidates: readonly HashedFile[],
  preprocessing: Preprocessing,
  wantHashes: boolean,
  concurrency: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, Decoded | string>> {
  const uniqueShas = [...new Set(candidates.map((f) => f.sha256))].sort(compareCodePoints);
  const firstPath = new Map<string, HashedFile>();
  for (const f of candidates) if (!firstPath.has(f.sha256)) firstPath.set(f.sha256, f);
  let done = 0;
  const decodedList = await mapWithConcurrency(uniqueShas, concurrency, async (sha) => {
    const file = firstPath.get(sha) as HashedFile;
    let result: Decoded | string;
    try {
      const bytes = await readFile(file.absPath);
      const image = await decodeImage(bytes, preprocessing);
      result = { image, phash: wantHashes ? await perceptualHash(bytes) : null };
    } catch (error) {
      if (!(error instanceof ImageDecodeError)) throw error;
      result = error.message;
    }
    onProgress?.(++done, uniqueShas.length);
    return result;
  });
  return new Map(uniqueShas.map((sha, i) => [sha, decodedList[i] as Decoded | string]));
}

/** The bundle's blobs and per-file records, in the (already sorted) order of `included`. */
export function packImages(
  included: readonly (HashedFile & Decoded)[],
  imageSize: number,
): { images: Uint8Array; labels: Uint8Array; files: ManifestFile[] } {
  const pixelsPerImage = imageSize * imageSize;
  const images = new Uint8Array(included.length * pixelsPerImage);
  const labels = new Uint8Array(included.length);
  const files: ManifestFile[] = included.map((f, index) => {
    images.set(f.image.pixels, index * pixelsPerImage);
    labels[index] = f.label;
    return {
      index,
      path: f.relPath,
      sha256: f.sha256,
      label: f.label,
      format: f.image.format,
      width: f.image.width,
      height: f.image.height,
      channels: f.image.channels,
      ...(f.phash ? { phash: hashToHex(f.phash) } : {}),
    };
  });
  return { images, labels, files };
}
