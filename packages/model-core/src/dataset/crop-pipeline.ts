import sharp, { type KernelEnum, type OutputInfo, type Sharp } from 'sharp';
import { headBox, squareAround, type Box } from './head-crop.js';

/** Side of the thumbnail the head box is searched on: small enough that thin lines are ≤ 2 px. */
const SEARCH_SIDE = 128;

type Raw = { data: Buffer; info: OutputInfo };
const rawInput = (width: number, height: number) => ({ raw: { width, height, channels: 1 as const } });

/**
 * Head crop: decode at full size, find the head's box, cut the square around it (black where
 * it extends past the image) and resize that square to `size` × `size` greyscale.
 */
export async function resizeHeadCrop(
  image: Sharp,
  size: number,
  margin: number,
  kernel: string,
): Promise<Raw> {
  const full = await image
    .autoOrient()
    .greyscale()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const { width, height } = full.info;
  const found = await findHead(full.data, { left: 0, top: 0, width, height }, width, height);
  // A second look at the region around the first box: a head that is small in a big frame
  // covers few thumbnail pixels the first time, so its edges are found to a few per cent only.
  const around = found && clip(squareAround(found, 0.15), width, height);
  const refined = around ? ((await findHead(full.data, around, width, height)) ?? found) : found;
  const square = refined
    ? squareAround(refined, margin)
    : squareAround({ left: 0, top: 0, width, height }, 0);
  const inside = clip(square, width, height);
  // extract and extend in a call of their own: sharp would otherwise resize before extending.
  const cropped = await sharp(full.data, rawInput(width, height))
    .extract(inside)
    .extend({
      left: inside.left - square.left,
      top: inside.top - square.top,
      right: square.left + square.width - (inside.left + inside.width),
      bottom: square.top + square.height - (inside.top + inside.height),
      background: { r: 0, g: 0, b: 0, alpha: 1 },
    })
    .greyscale() // a raw one-channel input would come out as sRGB otherwise
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(cropped.data, rawInput(cropped.info.width, cropped.info.height))
    .resize(size, size, { fit: 'fill', kernel: kernel as keyof KernelEnum })
    .greyscale()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
}

/** The head box inside `region` of the full image, in full-image coordinates (searched on a ≤ 128 px thumbnail). */
async function findHead(full: Buffer, region: Box, width: number, height: number): Promise<Box | null> {
  const thumb = await sharp(full, rawInput(width, height))
    .extract(region)
    .resize(SEARCH_SIDE, SEARCH_SIDE, { fit: 'inside', kernel: 'linear' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const box = headBox(thumb.data, thumb.info.width, thumb.info.height);
  if (!box) return null;
  const sx = region.width / thumb.info.width;
  const sy = region.height / thumb.info.height;
  return {
    left: region.left + box.left * sx,
    top: region.top + box.top * sy,
    width: box.width * sx,
    height: box.height * sy,
  };
}

/** The part of `box` inside a `width` × `height` image, in whole pixels (at least 1×1). */
function clip(box: Box, width: number, height: number): Box {
  const left = Math.min(width - 1, Math.max(0, Math.round(box.left)));
  const top = Math.min(height - 1, Math.max(0, Math.round(box.top)));
  const right = Math.max(left + 1, Math.min(width, Math.round(box.left + box.width)));
  const bottom = Math.max(top + 1, Math.min(height, Math.round(box.top + box.height)));
  return { left, top, width: right - left, height: bottom - top };
}
