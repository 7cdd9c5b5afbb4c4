import sharp, { type Sharp } from 'sharp';
import { InvalidInputError } from '@braintune/protocol';
import { invertInsideHead } from './head-crop.js';
import { decodeScan, type DecodedScan } from './preprocess.js';

/**
 * Deterministic changes of acquisition, applied to a scan's ORIGINAL bytes before the normal
 * preprocessing, the way a scan from another scanner or another export would reach `predict`.
 * They measure robustness (bench:robustness); they are not augmentation (no randomness).
 *
 * - gamma: every channel value v ∈ [0, 255] becomes 255·(v/255)^gamma (< 1 brightens, > 1 darkens);
 * - contrast: v ↦ mean + factor·(v − mean) around the mean over all pixels and channels, clipped;
 * - blur: Gaussian blur whose sigma is a fraction of the shorter side, so it means the same at
 *   any source resolution;
 * - crop: removes `fraction` of the width and of the height, half on each side (tighter framing);
 * - pad: adds black borders of `fraction` of the width and of the height, half on each side
 *   (wider framing);
 * - jpeg: a re-encode at the given quality (a lossy PACS export);
 * - invert: a sequence swap: grey levels inverted inside the head, then scaled so the head keeps
 *   its mean level; the background stays black.
 *   T1 and T2/FLAIR differ roughly so (fluid dark vs bright). It is the shift that breaks models
 *   trained on the shared set, whose no-tumour scans are mostly T2/FLAIR and gliomas mostly T1c.
 *
 * Every shift but `jpeg` is written as a lossless PNG, so only the shift itself changes pixels.
 */
export type AcquisitionShift =
  | { kind: 'gamma'; gamma: number }
  | { kind: 'contrast'; factor: number }
  | { kind: 'blur'; sigmaFraction: number }
  | { kind: 'crop'; fraction: number }
  | { kind: 'pad'; fraction: number }
  | { kind: 'jpeg'; quality: number }
  | { kind: 'invert' };

export interface NamedAcquisitionShift {
  name: string;
  shift: AcquisitionShift;
}

/**
 * The shifts of bench:robustness. Blur sigma: 1.5 % of the shorter side (≈ 7.7 px on the shared
 * set's 512 px scans) is about one pixel once the scan is shrunk to the 64 px model input; a smaller
 * blur vanishes in that downscale and would test nothing, a much larger one is no longer a
 * plausible acquisition (it matches a ~4× lower in-plane resolution or thick slices).
 */
export const ACQUISITION_SHIFTS: readonly NamedAcquisitionShift[] = [
  { name: 'gamma0.6', shift: { kind: 'gamma', gamma: 0.6 } },
  { name: 'gamma1.6', shift: { kind: 'gamma', gamma: 1.6 } },
  { name: 'contrast0.6', shift: { kind: 'contrast', factor: 0.6 } },
  { name: 'contrast1.4', shift: { kind: 'contrast', factor: 1.4 } },
  { name: 'blur1.5%', shift: { kind: 'blur', sigmaFraction: 0.015 } },
  { name: 'crop15%', shift: { kind: 'crop', fraction: 0.15 } },
  { name: 'pad15%', shift: { kind: 'pad', fraction: 0.15 } },
  { name: 'jpeg30', shift: { kind: 'jpeg', quality: 30 } },
  { name: 'invert', shift: { kind: 'invert' } },
];

/** Decoded pixels (decodeScan: EXIF orientation applied, alpha flattened onto black, as preprocessing does). */
type RawImage = Omit<DecodedScan, 'format'>;

function assertShift(shift: AcquisitionShift): void {
  const bad = (what: string): never => {
    throw new InvalidInputError(
      `invalid acquisition shift ${JSON.stringify(shift)}: ${what}`,
      'fix the shift',
    );
  };
  switch (shift.kind) {
    case 'gamma':
      if (!(shift.gamma > 0 && Number.isFinite(shift.gamma))) bad('gamma must be a positive number');
      break;
    case 'contrast':
      if (!(shift.factor >= 0 && Number.isFinite(shift.factor))) bad('factor must be ≥ 0');
      break;
    case 'blur':
      if (!(shift.sigmaFraction > 0 && shift.sigmaFraction < 1)) bad('sigmaFraction must be in (0, 1)');
      break;
    case 'crop':
      if (!(shift.fraction >= 0 && shift.fraction < 1)) bad('fraction must be in [0, 1)');
      break;
    case 'pad':
      if (!(shift.fraction >= 0 && shift.fraction <= 4)) bad('fraction must be in [0, 4]');
      break;
    case 'jpeg':
      if (!(Number.isInteger(shift.quality) && shift.quality >= 1 && shift.quality <= 100))
        bad('quality must be an integer in 1…100');
      break;
    case 'invert':
      break;
  }
}

function fromRaw(raw: RawImage): Sharp {
  return sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
}

/** Applies a 256-entry lookup table to every byte (all channels alike: a greyscale scan stays grey). */
function mapLevels(raw: RawImage, lut: Uint8Array): RawImage {
  const data = Buffer.alloc(raw.data.length);
  for (let i = 0; i < data.length; i++) data[i] = lut[raw.data[i] as number] as number;
  return { ...raw, data };
}

function lookupTable(f: (v: number) => number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.min(255, Math.max(0, Math.round(f(v))));
  return lut;
}

function meanLevel(raw: RawImage): number {
  let sum = 0;
  for (let i = 0; i < raw.data.length; i++) sum += raw.data[i] as number;
  return raw.data.length === 0 ? 0 : sum / raw.data.length;
}

/** Mean level of the first channel over the pixels where `mask` is 1. */
function maskedMean(raw: RawImage, mask: Uint8Array): number {
  let sum = 0;
  let count = 0;
  for (let p = 0; p < mask.length; p++)
    if (mask[p] === 1) [sum, count] = [sum + (raw.data[p * raw.channels] as number), count + 1];
  return count === 0 ? 0 : sum / count;
}

/**
 * Inversion inside the head, then one gain that gives the head its original mean level back:
 * a T1 slice becomes T2-like (fluid bright) without turning into a white disk, and the shift
 * differs from the plain inversion that the `invert` augmentation trains on.
 */
function sequenceSwap(raw: RawImage): RawImage {
  const data = Buffer.from(raw.data);
  const mask = invertInsideHead(data, raw.width, raw.height, raw.channels);
  const inverted = { ...raw, data };
  const after = maskedMean(inverted, mask);
  const gain = after > 0 ? maskedMean(raw, mask) / after : 1;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    for (let c = 0; c < raw.channels; c++) {
      const i = p * raw.channels + c;
      data[i] = Math.min(255, Math.round((data[i] as number) * gain));
    }
  }
  return inverted;
}

/** The shifted pixels, before encoding. */
function shifted(raw: RawImage, shift: AcquisitionShift): Sharp {
  const { width, height } = raw;
  switch (shift.kind) {
    case 'gamma':
      return fromRaw(
        mapLevels(
          raw,
          lookupTable((v) => 255 * (v / 255) ** shift.gamma),
        ),
      );
    case 'contrast': {
      const mean = meanLevel(raw);
      return fromRaw(
        mapLevels(
          raw,
          lookupTable((v) => mean + shift.factor * (v - mean)),
        ),
      );
    }
    case 'blur':
      // sharp's blur needs sigma ≥ 0.3; tiny test images get that minimum.
      return fromRaw(raw).blur(Math.max(0.3, shift.sigmaFraction * Math.min(width, height)));
    case 'crop': {
      const cropW = Math.round(width * shift.fraction);
      const cropH = Math.round(height * shift.fraction);
      return fromRaw(raw).extract({
        left: Math.floor(cropW / 2),
        top: Math.floor(cropH / 2),
        width: Math.max(1, width - cropW),
        height: Math.max(1, height - cropH),
      });
    }
    case 'pad': {
      const padW = Math.round(width * shift.fraction);
      const padH = Math.round(height * shift.fraction);
      return fromRaw(raw).extend({
        left: Math.floor(padW / 2),
        right: padW - Math.floor(padW / 2),
        top: Math.floor(padH / 2),
        bottom: padH - Math.floor(padH / 2),
        background: { r: 0, g: 0, b: 0, alpha: 1 },
      });
    }
    case 'jpeg':
      return fromRaw(raw);
    case 'invert':
      return fromRaw(sequenceSwap(raw));
  }
}

/**
 * The bytes of `bytes` after one acquisition shift: a PNG (lossless) or, for `jpeg`, a JPEG at
 * the given quality. Non-images and corrupt files are an InvalidInputError.
 */
export async function applyAcquisitionShift(bytes: Buffer, shift: AcquisitionShift): Promise<Buffer> {
  assertShift(shift);
  let raw: RawImage;
  try {
    raw = await decodeScan(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new InvalidInputError(`cannot apply an acquisition shift: ${reason}`, 'pass a JPEG or PNG scan', {
      cause: error,
    });
  }
  const image = shifted(raw, shift);
  return shift.kind === 'jpeg'
    ? image.jpeg({ quality: shift.quality }).toBuffer()
    : image.png({ compressionLevel: 1 }).toBuffer();
}
