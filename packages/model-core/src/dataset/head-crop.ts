/**
 * Where the head is in a greyscale slice: the bounding box of the non-background region,
 * ignoring specks, burnt-in text and thin border lines, so scans framed loosely or tightly,
 * with or without a border, are cropped to the same anatomy.
 */

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Otsu's threshold of 8-bit pixels: the level that best separates two classes (background, tissue). */
export function otsuThreshold(pixels: Uint8Array): number {
  const histogram = new Float64Array(256);
  for (const v of pixels) histogram[v] = (histogram[v] as number) + 1;
  const total = pixels.length;
  let sumAll = 0;
  for (let v = 0; v < 256; v++) sumAll += v * (histogram[v] as number);
  let weightBelow = 0;
  let sumBelow = 0;
  let best = 0;
  let bestVariance = -1;
  for (let t = 0; t < 256; t++) {
    weightBelow += histogram[t] as number;
    if (weightBelow === 0) continue;
    const weightAbove = total - weightBelow;
    if (weightAbove === 0) break;
    sumBelow += t * (histogram[t] as number);
    const meanBelow = sumBelow / weightBelow;
    const meanAbove = (sumAll - sumBelow) / weightAbove;
    const variance = weightBelow * weightAbove * (meanBelow - meanAbove) ** 2;
    if (variance > bestVariance) [bestVariance, best] = [variance, t];
  }
  return best;
}

/**
 * Background level: half of Otsu's threshold, at least 8. Otsu's level splits black
 * background from tissue; half of it keeps the darker scalp and skull rim inside the head.
 */
export function backgroundLevel(pixels: Uint8Array): number {
  return Math.max(8, Math.round(otsuThreshold(pixels) / 2));
}

/** A component smaller than this share of the largest one is text, a marker or noise. */
const MIN_COMPONENT_SHARE = 0.1;

/**
 * Bounding box of the head in a `width` × `height` greyscale image (best at ~128 px, where a
 * one- or two-pixel structure is thin): pixels above the background level, opened with a 3×3
 * square (which erases lines up to two pixels wide and isolated specks), then the union of the
 * connected components with at least 10 % of the largest one's area. Null when nothing is found.
 */
export function headBox(pixels: Uint8Array, width: number, height: number): Box | null {
  const level = backgroundLevel(pixels);
  let mask: Uint8Array = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = (pixels[i] as number) > level ? 1 : 0;
  mask = dilate(erode(mask, width, height), width, height);
  const components = labelComponents(mask, width, height);
  if (components.length === 0) return null;
  const largest = Math.max(...components.map((c) => c.area));
  const kept = components.filter((c) => c.area >= MIN_COMPONENT_SHARE * largest);
  const left = Math.min(...kept.map((c) => c.left));
  const top = Math.min(...kept.map((c) => c.top));
  const right = Math.max(...kept.map((c) => c.right));
  const bottom = Math.max(...kept.map((c) => c.bottom));
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * Which pixels of a `width` × `height` greyscale image belong to the head: everything that the
 * black background (pixels at or below the background level, opened like headBox's mask, and
 * connected to the image border) does not reach. Dark structures enclosed by tissue (fluid,
 * necrosis, air in sinuses) are inside. 1 = head, 0 = background.
 */
export function headMask(pixels: Uint8Array, width: number, height: number): Uint8Array {
  const level = backgroundLevel(pixels);
  let tissue: Uint8Array = new Uint8Array(width * height);
  for (let i = 0; i < tissue.length; i++) tissue[i] = (pixels[i] as number) > level ? 1 : 0;
  tissue = dilate(erode(tissue, width, height), width, height);
  const background = new Uint8Array(tissue.length);
  const stack = new Int32Array(tissue.length);
  let sp = 0;
  const seed = (i: number): void => {
    if (tissue[i] === 0 && background[i] === 0) {
      background[i] = 1;
      stack[sp++] = i;
    }
  };
  for (let x = 0; x < width; x++) {
    seed(x);
    seed((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    seed(y * width);
    seed(y * width + width - 1);
  }
  while (sp > 0) {
    const i = stack[--sp] as number;
    const x = i % width;
    if (x > 0) seed(i - 1);
    if (x < width - 1) seed(i + 1);
    if (i >= width) seed(i - width);
    if (i < tissue.length - width) seed(i + width);
  }
  const mask = new Uint8Array(tissue.length);
  for (let i = 0; i < mask.length; i++) mask[i] = 1 - (background[i] as number);
  return mask;
}

/**
 * Sequence swap of one image, in place: grey levels inside the head inverted (v ↦ 255 − v),
 * the background untouched. `levels` holds `channels` interleaved channels per pixel (greyscale
 * scans stored as RGB have three equal ones); the head is found on the first. Returns the head mask.
 */
export function invertInsideHead(
  levels: Uint8Array,
  width: number,
  height: number,
  channels: number,
): Uint8Array {
  const grey = channels === 1 ? levels : new Uint8Array(width * height);
  if (channels !== 1) for (let p = 0; p < grey.length; p++) grey[p] = levels[p * channels] as number;
  const mask = headMask(grey, width, height);
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    for (let c = 0; c < channels; c++) {
      const i = p * channels + c;
      levels[i] = 255 - (levels[i] as number);
    }
  }
  return mask;
}

function erode(mask: Uint8Array, width: number, height: number): Uint8Array {
  return morph(mask, width, height, 1);
}

function dilate(mask: Uint8Array, width: number, height: number): Uint8Array {
  return morph(mask, width, height, 0);
}

/**
 * 3×3 erosion (keep = 1: all neighbours set) or dilation (keep = 0: any neighbour set), done
 * separably (rows, then columns); outside the image counts as background.
 */
function morph(mask: Uint8Array, width: number, height: number, erosion: 0 | 1): Uint8Array {
  const pass = (input: Uint8Array, step: number, along: number, across: number): Uint8Array => {
    const out = new Uint8Array(input.length);
    const lineStep = step === 1 ? width : 1;
    for (let line = 0; line < across; line++) {
      const base = line * lineStep;
      for (let k = 0; k < along; k++) {
        const i = base + k * step;
        const prev = k > 0 ? (input[i - step] as number) : 0;
        const next = k < along - 1 ? (input[i + step] as number) : 0;
        const self = input[i] as number;
        out[i] = erosion ? prev & self & next : prev | self | next;
      }
    }
    return out;
  };
  return pass(pass(mask, 1, width, height), width, height, width);
}

interface Component {
  area: number;
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** 4-connected components of a binary mask with their areas and bounding boxes. */
function labelComponents(mask: Uint8Array, width: number, height: number): Component[] {
  const seen = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  const components: Component[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] !== 1 || seen[start] === 1) continue;
    const c: Component = { area: 0, left: width, top: height, right: -1, bottom: -1 };
    let sp = 0;
    stack[sp++] = start;
    seen[start] = 1;
    while (sp > 0) {
      const i = stack[--sp] as number;
      const x = i % width;
      const y = (i - x) / width;
      c.area++;
      c.left = Math.min(c.left, x);
      c.right = Math.max(c.right, x);
      c.top = Math.min(c.top, y);
      c.bottom = Math.max(c.bottom, y);
      for (let n = 0; n < 4; n++) {
        if (n === 0 ? x === 0 : n === 1 ? x === width - 1 : n === 2 ? y === 0 : y === height - 1) continue;
        const j = n === 0 ? i - 1 : n === 1 ? i + 1 : n === 2 ? i - width : i + width;
        if (mask[j] === 1 && seen[j] === 0) {
          seen[j] = 1;
          stack[sp++] = j;
        }
      }
    }
    components.push(c);
  }
  return components;
}

/**
 * The square region to cut from a `width` × `height` image for head box `box` (in the same
 * coordinates): centred on the box, side = longer box side × (1 + 2 × margin). It may extend
 * past the image; the caller pads that part with black.
 */
export function squareAround(box: Box, margin: number): Box {
  const side = Math.max(1, Math.round(Math.max(box.width, box.height) * (1 + 2 * margin)));
  const cx = box.left + box.width / 2;
  const cy = box.top + box.height / 2;
  return {
    left: Math.round(cx - side / 2),
    top: Math.round(cy - side / 2),
    width: side,
    height: side,
  };
}
