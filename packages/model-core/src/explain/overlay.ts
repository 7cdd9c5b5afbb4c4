import sharp from 'sharp';

/** The "jet"-like colormap used by most Grad-CAM figures: blue (0) → cyan → yellow → red (1). */
export function colormap(value: number): [number, number, number] {
  const v = Math.min(1, Math.max(0, value));
  const channel = (offset: number) =>
    Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - offset))));
  return [channel(3), channel(2), channel(1)];
}

export interface OverlayOptions {
  /** Side of the longest edge of the output PNG (the scan is scaled to it). Default 384. */
  size?: number;
  /** Maximum opacity of the heatmap, reached where the map is 1. Default 0.55. */
  opacity?: number;
}

/**
 * Renders a Grad-CAM map over a scan as a PNG: the scan in greyscale, the map
 * upsampled (bilinear) to the same size and blended in with an opacity that grows with
 * importance, so unimportant regions keep the anatomy readable.
 *
 * `scan` is the image as the model saw it (e.g. the preprocessed greyscale input,
 * encoded as PNG) or the original file when the model's resize stretches it ("fill").
 */
export async function renderHeatmapOverlay(
  scan: Buffer,
  map: { heatmap: Float32Array; width: number; height: number },
  options: OverlayOptions = {},
): Promise<Buffer> {
  const size = options.size ?? 384;
  const opacity = options.opacity ?? 0.55;
  const meta = await sharp(scan).metadata();
  const srcW = meta.width ?? size;
  const srcH = meta.height ?? size;
  const scale = size / Math.max(srcW, srcH);
  const width = Math.max(1, Math.round(srcW * scale));
  const height = Math.max(1, Math.round(srcH * scale));

  const base = await sharp(scan).greyscale().resize(width, height, { fit: 'fill' }).raw().toBuffer();

  const importance = upsampleBilinear(map, width, height);

  const out = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const grey = base[i] ?? 0;
    const v = importance[i] ?? 0;
    const [r, g, b] = colormap(v);
    // Weak evidence (below 15 % of the peak) stays plain grey so the anatomy remains readable.
    const a = v <= 0.15 ? 0 : opacity * Math.sqrt((v - 0.15) / 0.85);
    out[i * 3] = Math.round(grey * (1 - a) + r * a);
    out[i * 3 + 1] = Math.round(grey * (1 - a) + g * a);
    out[i * 3 + 2] = Math.round(grey * (1 - a) + b * a);
  }
  return sharp(out, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** Bilinear upsampling of a coarse map to width × height, cell centres aligned (as image resizers do). */
export function upsampleBilinear(
  map: { heatmap: Float32Array; width: number; height: number },
  width: number,
  height: number,
): Float32Array {
  const out = new Float32Array(width * height);
  const at = (x: number, y: number) => map.heatmap[y * map.width + x] ?? 0;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(map.height - 1, Math.max(0, ((y + 0.5) * map.height) / height - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(map.height - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(map.width - 1, Math.max(0, ((x + 0.5) * map.width) / width - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(map.width - 1, x0 + 1);
      const fx = sx - x0;
      const top = at(x0, y0) * (1 - fx) + at(x1, y0) * fx;
      const bottom = at(x0, y1) * (1 - fx) + at(x1, y1) * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}
