import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { z } from 'zod';
import { DEFAULT_CROP_MARGIN, IntensityStandardisationSchema, InvalidInputError } from '@braintune/protocol';
import { resizeHeadCrop } from './crop-pipeline.js';
import { standardiseIntensity } from './intensity.js';

export const ResizeMethodSchema = z.enum(['fill', 'contain', 'cover']);
export type ResizeMethod = z.infer<typeof ResizeMethodSchema>;

export const ResizeKernelSchema = z.enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3']);
export type ResizeKernel = z.infer<typeof ResizeKernelSchema>;

/**
 * Default resize: `contain` (letterbox). MRI slices sit on a black background, so padding
 * with black adds nothing a model could mistake for anatomy, while `fill` would stretch the
 * ~11 % of non-square scans (aspect 0.6–1.8 in the shared set) and `cover` would crop the
 * edges of the skull, where tumours can lie.
 */
export const DEFAULT_RESIZE: ResizeMethod = 'contain';
/** sharp's default kernel; libvips shrinks JPEGs on load first, then lanczos3 does the rest. */
export const DEFAULT_KERNEL: ResizeKernel = 'lanczos3';

/**
 * Images larger than this many pixels are refused before their pixels are decoded (sharp
 * reads the header first): a small, highly compressed file can otherwise expand into
 * gigabytes. 40 MP is far above any MRI slice or photo of one.
 */
export const MAX_INPUT_PIXELS = 40_000_000;

/** How pixels are produced from a file; recorded in the bundle so `predict` repeats it exactly. */
export const PreprocessingSchema = z.object({
  grayscale: z.literal(true),
  resize: ResizeMethodSchema,
  /** A sharp resize kernel (typed as string so bundles stay readable by older code). */
  kernel: z.string().refine((k) => ResizeKernelSchema.safeParse(k).success, {
    message: `kernel must be one of ${ResizeKernelSchema.options.join(', ')}`,
  }),
  imageSize: z.number().int().min(1).max(4096),
  /** Crop to the head's bounding box (square, plus cropMargin) before the resize; absent = false. */
  headCrop: z.boolean().default(false),
  cropMargin: z.number().min(0).max(0.5).default(DEFAULT_CROP_MARGIN),
  /** Intensity standardisation of the resized image; absent = none (bundles before version 2). */
  intensity: IntensityStandardisationSchema.default('none'),
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;
/** As recorded (bundles and checkpoints written before head crop existed lack the new fields). */
export type PreprocessingInput = z.input<typeof PreprocessingSchema>;

/** Raster formats we accept, identified by their leading bytes (never by file name). */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff';

/**
 * Content-type check on the bytes themselves. sharp would also render SVG or PDF text,
 * which are not scans; anything not in this list is "not an image" for braintune.
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  const at = (i: number): number => bytes[i] ?? -1;
  const ascii = (from: number, text: string): boolean =>
    [...text].every((ch, i) => at(from + i) === ch.charCodeAt(0));
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'jpeg';
  if (at(0) === 0x89 && ascii(1, 'PNG\r\n\x1a\n')) return 'png';
  if (ascii(0, 'GIF8')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if ((ascii(0, 'II') && at(2) === 42 && at(3) === 0) || (ascii(0, 'MM') && at(2) === 0 && at(3) === 42))
    return 'tiff';
  return null;
}

export interface DecodedImage {
  /** imageSize × imageSize greyscale pixels, row-major. */
  pixels: Uint8Array;
  format: ImageFormat;
  width: number;
  height: number;
  channels: number;
}

/** Why a file cannot be used as an image; the message is what the manifest lists as the skip reason. */
export class ImageDecodeError extends Error {}

/**
 * An image decoded once, at full resolution, EXIF orientation applied and transparency made
 * black: every later preprocessing (one per model of an ensemble, Grad-CAM, a preview) starts
 * from these pixels instead of decoding the file again. Unlike a file, it is not shrunk on load
 * (libvips decodes a JPEG at 1/2–1/8 scale when the resize allows), so a JPEG's model input
 * can differ from the file's by rounding.
 */
export interface DecodedScan {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  format: ImageFormat;
}

export function isDecodedScan(input: unknown): input is DecodedScan {
  return typeof input === 'object' && input !== null && !Buffer.isBuffer(input) && 'data' in input;
}

/** Decodes `bytes` once (see DecodedScan); refused above MAX_INPUT_PIXELS from the header. */
export async function decodeScan(bytes: Buffer): Promise<DecodedScan> {
  const format = sniffImageFormat(bytes);
  if (!format) throw new ImageDecodeError('not an image (no JPEG/PNG/WebP/GIF/TIFF signature)');
  try {
    const image = sharp(bytes, { failOn: 'error', animated: false, limitInputPixels: MAX_INPUT_PIXELS });
    const meta = await image.metadata();
    if (meta.hasAlpha) image.flatten({ background: { r: 0, g: 0, b: 0 } });
    const { data, info } = await image
      .autoOrient()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels, format };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ImageDecodeError(`corrupt ${format}: ${reason}`, { cause: error });
  }
}

/** A sharp pipeline on an encoded image or on the pixels of a decoded one (no second decode). */
function openImage(input: Buffer | DecodedScan): Sharp {
  if (!isDecodedScan(input))
    return sharp(input, { failOn: 'error', animated: false, limitInputPixels: MAX_INPUT_PIXELS });
  const { data, width, height, channels } = input;
  return sharp(data, { raw: { width, height, channels } });
}

/**
 * The single decode → greyscale → [head crop] → resize → [intensity] pipeline used for
 * bundles and for `predict`. Transparent pixels become black (the MRI background), EXIF
 * orientation is applied, 16-bit input is scaled to 8 bits. Throws ImageDecodeError for
 * non-images and corrupt files.
 */
export async function decodeImage(
  input: Buffer | DecodedScan,
  preprocessing: Preprocessing,
): Promise<DecodedImage> {
  const format = isDecodedScan(input) ? input.format : sniffImageFormat(input);
  if (!format) throw new ImageDecodeError('not an image (no JPEG/PNG/WebP/GIF/TIFF signature)');
  const size = preprocessing.imageSize;
  try {
    // failOn 'error': a truncated JPEG or a bad PNG CRC is rejected instead of silently producing grey stripes.
    const image = openImage(input);
    const meta = await image.metadata();
    // flatten only when there is alpha: it costs ~10 % of the decode time on opaque JPEGs.
    if (meta.hasAlpha) image.flatten({ background: { r: 0, g: 0, b: 0 } });
    const resized = preprocessing.headCrop
      ? await resizeHeadCrop(image, preprocessing.imageSize, preprocessing.cropMargin, preprocessing.kernel)
      : await image
          .autoOrient()
          .resize(size, size, {
            fit: preprocessing.resize,
            kernel: preprocessing.kernel as ResizeKernel,
            position: 'centre',
            background: { r: 0, g: 0, b: 0, alpha: 1 },
          })
          .greyscale()
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true });
    const { data, info } = resized;
    if (info.width !== size || info.height !== size || info.channels !== 1 || data.length !== size * size) {
      throw new ImageDecodeError(
        `decoder produced ${info.width}×${info.height}×${info.channels} instead of ${size}×${size}×1`,
      );
    }
    const pixels = await standardiseIntensity(
      new Uint8Array(data.buffer, data.byteOffset, data.length),
      size,
      preprocessing.intensity,
    );
    return {
      pixels,
      format,
      width: meta.width ?? 0,
      height: meta.height ?? 0,
      channels: meta.channels ?? 0,
    };
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ImageDecodeError(`corrupt ${format}: ${reason}`, { cause: error });
  }
}

/**
 * Preprocesses one new scan (a file path or its bytes) exactly as the bundle's images were:
 * returns imageSize × imageSize greyscale uint8 pixels. Non-images and corrupt files are an
 * InvalidInputError.
 */
export async function preprocessImage(
  input: Buffer | string | DecodedScan,
  preprocessing: PreprocessingInput,
): Promise<Uint8Array> {
  const parsed = PreprocessingSchema.safeParse(preprocessing);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new InvalidInputError(
      `invalid preprocessing settings: ${issues}`,
      'use the preprocessing recorded in the bundle',
    );
  }
  const settings = parsed.data;
  const label = typeof input === 'string' ? input : 'uploaded image';
  let bytes: Buffer | DecodedScan;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (error) {
      throw new InvalidInputError(
        `cannot read image ${input}: ${(error as Error).message}`,
        'pass the path of a JPEG or PNG file',
        {
          cause: error,
        },
      );
    }
  } else {
    bytes = input;
  }
  try {
    return (await decodeImage(bytes, settings)).pixels;
  } catch (error) {
    if (error instanceof ImageDecodeError) {
      throw new InvalidInputError(`${label}: ${error.message}`, 'pass a JPEG or PNG brain MRI scan', {
        cause: error,
      });
    }
    throw error;
  }
}

/** sharp / libvips versions: part of the bundle hash, since another decoder may round pixels differently. */
export function decoderVersions(): { sharp: string; vips: string } {
  const versions = sharp.versions as { sharp?: string; vips: string };
  return { sharp: versions.sharp ?? 'unknown', vips: versions.vips };
}
