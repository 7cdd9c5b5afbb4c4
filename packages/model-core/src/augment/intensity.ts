/**
 * Pointwise intensity changes (random intensity curve, gamma, brightness) folded into one
 * 256-entry lookup table per image. Training pixels are 8-bit levels k/255, so a table indexed
 * by level is exact, and one JavaScript pass applies every pointwise change at once.
 */

/** The two free control points of a cubic Bézier from (0, 0) to (1, 1). */
export interface CurveDraw {
  p1: [number, number];
  p2: [number, number];
  /** Monotonic curves keep the order of grey levels; the others may swap tissues' brightness. */
  monotonic: boolean;
}

export interface IntensityDraw {
  /** Exponent applied after the curve (1 = none). */
  gamma: number;
  /** Offset added last (0 = none). */
  brightness: number;
  curve: CurveDraw | null;
}

const CURVE_SAMPLES = 64;

function cubic(t: number, a: number, b: number, c: number, d: number): number {
  const u = 1 - t;
  return u * u * u * a + 3 * u * u * t * b + 3 * u * t * t * c + t * t * t * d;
}

/**
 * The curve as a 256-entry table, after Models Genesis' non-linear transformation: sample the
 * Bézier, sort its x values, and read y either sorted (monotonic) or in curve order with
 * stretched control heights (non-monotonic); linear interpolation in between, clipped to
 * [0, 1]; 0 ↦ 0 (the black MRI background stays black).
 */
export function bezierCurveTable(curve: CurveDraw): Float32Array {
  const xs: number[] = [];
  const ys: number[] = [];
  // Control heights in [0, 1] almost never bend the curve back; [-0.5, 1.5] lets mid-greys
  // overtake white (as tissues swap brightness between T1 and T2), clipped to [0, 1] below.
  const height = (y: number): number => (curve.monotonic ? y : 2 * y - 0.5);
  for (let i = 0; i < CURVE_SAMPLES; i++) {
    const t = i / (CURVE_SAMPLES - 1);
    xs.push(cubic(t, 0, curve.p1[0], curve.p2[0], 1));
    ys.push(cubic(t, 0, height(curve.p1[1]), height(curve.p2[1]), 1));
  }
  xs.sort((a, b) => a - b);
  if (curve.monotonic) ys.sort((a, b) => a - b);
  const table = new Float32Array(256);
  let j = 0;
  for (let k = 0; k < 256; k++) {
    const x = k / 255;
    while (j < CURVE_SAMPLES - 2 && (xs[j + 1] as number) < x) j++;
    const x0 = xs[j] as number;
    const x1 = xs[j + 1] as number;
    const y0 = ys[j] as number;
    const y1 = ys[j + 1] as number;
    const t = x1 > x0 ? Math.min(1, Math.max(0, (x - x0) / (x1 - x0))) : 0;
    table[k] = Math.min(1, Math.max(0, y0 + t * (y1 - y0)));
  }
  return table;
}

/** The table of one image: curve, then gamma, then brightness, clipped to [0, 1]. */
export function intensityTable(draw: IntensityDraw): Float32Array {
  const table = draw.curve === null ? null : bezierCurveTable(draw.curve);
  const out = new Float32Array(256);
  for (let k = 0; k < 256; k++) {
    const level = table === null ? k / 255 : (table[k] as number);
    const v = level ** draw.gamma + draw.brightness;
    out[k] = Math.min(1, Math.max(0, v));
  }
  return out;
}

/**
 * Applies table i to image i of a batch of pixels in [0, 1] (row-major, `pixelsPerImage` each);
 * values are read as the nearest 8-bit level.
 */
export function applyIntensityTables(
  pixels: Float32Array,
  pixelsPerImage: number,
  tables: readonly Float32Array[],
): Float32Array {
  const out = new Float32Array(pixels.length);
  tables.forEach((table, i) => {
    const base = i * pixelsPerImage;
    for (let p = base; p < base + pixelsPerImage; p++) {
      const level = Math.round((pixels[p] as number) * 255);
      out[p] = table[level < 0 ? 0 : level > 255 ? 255 : level] as number;
    }
  });
  return out;
}
