import type { DatasetBundle } from '../dataset/types.js';
import { Rng } from './rng.js';

/**
 * A tiny, learnable in-memory bundle for tests: each class is a bright shape (small disc,
 * large disc, horizontal bar, vertical bar; dimmer for classes 5–8) near the centre, plus
 * noise, so even a small CNN with global average pooling separates them in a few epochs.
 */
export function syntheticBundle(
  options: {
    imageSize?: number;
    perClass?: number | number[];
    classes?: number;
    seed?: number;
    valFraction?: number;
  } = {},
): DatasetBundle {
  const size = options.imageSize ?? 16;
  const k = options.classes ?? 4;
  const perClass = Array.isArray(options.perClass)
    ? options.perClass
    : new Array<number>(k).fill(options.perClass ?? 12);
  const rng = new Rng(options.seed ?? 7);
  const total = perClass.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(total * size * size);
  const labels = new Uint8Array(total);
  const train: number[] = [];
  const val: number[] = [];
  const valFraction = options.valFraction ?? 0.25;
  let n = 0;
  perClass.forEach((count, label) => {
    const valCount = Math.max(1, Math.round(count * valFraction));
    for (let j = 0; j < count; j++, n++) {
      labels[n] = label;
      const cx = size / 2 + rng.uniform(-size / 8, size / 8);
      const cy = size / 2 + rng.uniform(-size / 8, size / 8);
      const shape = label % 4;
      const brightness = 200 - 40 * Math.floor(label / 4);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const dx = Math.abs(x - cx);
          const dy = Math.abs(y - cy);
          const inside =
            shape === 0
              ? dx * dx + dy * dy <= (size / 8) ** 2
              : shape === 1
                ? dx * dx + dy * dy <= (size / 3) ** 2
                : shape === 2
                  ? dy <= size / 10 && dx <= size / 3
                  : dx <= size / 10 && dy <= size / 3;
          images[n * size * size + y * size + x] = Math.round(
            Math.min(255, (inside ? brightness : 20) + rng.uniform(0, 40)),
          );
        }
      }
      (j < valCount ? val : train).push(n);
    }
  });
  return {
    hash: `synthetic-${size}-${perClass.join('-')}-${options.seed ?? 7}`,
    classes: Array.from({ length: k }, (_, i) => `class_${String.fromCharCode(97 + i)}`),
    imageSize: size,
    images,
    labels,
    split: { train, val, test: [] },
    preprocessing: { grayscale: true, resize: 'fill', kernel: 'nearest', imageSize: size },
  };
}
