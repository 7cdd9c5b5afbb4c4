import type { NextFunction, Request, RequestHandler, Response } from 'express';
import multer from 'multer';
import sharp from 'sharp';
import {
  MAX_INPUT_PIXELS,
  decodeScan,
  sniffImageFormat,
  type DecodedScan,
} from '@braintune/model-core/dataset';
import { InvalidInputError } from '@braintune/protocol';

export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

/** An HTTP error with the status the client should see (413, 400, …). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/**
 * Multipart parsing of one scan (field `image`) into memory, at most 10 MB. Larger files
 * get 413 before anything else happens; other multipart mistakes get 400.
 */
export function scanUpload(): RequestHandler {
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 10, fieldSize: 64 * 1024 },
  }).single('image');
  return (req: Request, res: Response, next: NextFunction) => {
    parse(req, res, (err: unknown) => {
      if (!err) return next();
      if (err instanceof multer.MulterError) {
        if (err.code === 'LIMIT_FILE_SIZE')
          return next(
            new HttpError(
              413,
              `the upload is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`,
              'send a single JPEG or PNG scan of at most 10 MB',
            ),
          );
        if (err.code === 'LIMIT_UNEXPECTED_FILE' || err.code === 'LIMIT_FILE_COUNT')
          return next(
            new HttpError(
              400,
              'send exactly one file, in the multipart field "image"',
              'curl -F image=@scan.jpg …',
            ),
          );
        return next(new HttpError(400, `bad multipart upload: ${err.message}`));
      }
      return next(new HttpError(400, `bad upload: ${(err as Error).message}`));
    });
  };
}

export interface CheckedScan {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
  /** The upload decoded, once: prediction, Grad-CAM and the preview all start from these pixels. */
  pixels: DecodedScan;
}

/**
 * Checks from the bytes (never the file name or the declared type) that the upload is a
 * JPEG or PNG that decodes: the signature first, then sharp reads its header, and only an
 * image within the pixel limit is decoded (once).
 */
export async function checkScan(file: Express.Multer.File | undefined): Promise<CheckedScan> {
  if (!file)
    throw new InvalidInputError('no scan uploaded', 'send a JPEG or PNG in the multipart field "image"');
  const format = sniffImageFormat(file.buffer);
  if (format !== 'jpeg' && format !== 'png') {
    throw new InvalidInputError(
      format
        ? `the upload is a ${format.toUpperCase()} image; only JPEG and PNG scans are accepted`
        : `the upload "${file.originalname}" is not an image (no JPEG or PNG signature in its content)`,
      'export the scan as JPEG or PNG',
    );
  }
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    // The header only: nothing is decoded until the size is known to be acceptable.
    meta = await sharp(file.buffer, { failOn: 'error', limitInputPixels: false }).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
  } catch (err) {
    throw new InvalidInputError(
      `the upload "${file.originalname}" is a corrupt ${format.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`,
      'send an intact JPEG or PNG scan',
    );
  }
  if (meta.width * meta.height > MAX_INPUT_PIXELS)
    throw new HttpError(
      413,
      `the scan is ${meta.width}×${meta.height} pixels, more than the ${MAX_INPUT_PIXELS / 1e6} megapixels accepted`,
      'downscale the image before uploading it',
    );
  try {
    return { format, width: meta.width, height: meta.height, pixels: await decodeScan(file.buffer) };
  } catch (err) {
    // decodeScan's message names the format and the decoder's reason ("corrupt png: …").
    throw new InvalidInputError(
      `the upload "${file.originalname}" cannot be decoded: ${(err as Error).message}`,
      'send an intact JPEG or PNG scan',
    );
  }
}
