import sharp from 'sharp';
import { MAX_INPUT_PIXELS as MAX_UPLOAD_PIXELS } from '@braintune/model-core/dataset';
import type { RegistryService, VersionInfo } from '@braintune/coordinator';
import type { Logger } from '@braintune/protocol';
import type { CheckedScan } from './uploads.js';

// Type-only: the module itself is imported on the first prediction.
import type * as ModelCoreModule from '@braintune/model-core';

type ModelCore = typeof ModelCoreModule;
type Loaded = Awaited<ReturnType<ModelCore['loadCheckpoint']>>;

export interface RegistryPrediction {
  model: string;
  version: number;
  alias: string | null;
  classes: string[];
  probabilities: number[];
  predicted: string;
  preprocessing: {
    imageSize: number;
    grayscale: boolean;
    resize: string;
    kernel: string;
    pixelScale: number;
    scale: string;
  };
  input: { format: string; width: number; height: number };
  gradcam: { layer: string; classIndex: number; width: number; height: number };
  /** data: URLs (PNG), ready for <img src>. */
  images: { scan: string; modelInput: string; gradcam: string };
}

const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

/**
 * Serves predictions from registry versions. TensorFlow is loaded on the first request
 * only (a dashboard that never predicts never pays for it), and the last few loaded
 * versions stay in memory; requests are serialised because TF.js runs one op at a time
 * anyway and Grad-CAM's gradient tape must not interleave.
 */
export class RegistryPredictor {
  private core: Promise<ModelCore> | null = null;
  private readonly loaded = new Map<string, Promise<Loaded>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly registry: RegistryService,
    private readonly logger: Logger,
    private readonly cacheSize = 3,
  ) {}

  private modelCore(): Promise<ModelCore> {
    this.core ??= import('@braintune/model-core').then(async (core) => {
      // initBackend picks wasm (or a native backend) once per process, as the workers do.
      const backend = await core.initBackend({ logger: this.logger });
      this.logger.info({ backend: backend.name }, 'prediction backend ready');
      return core;
    });
    return this.core;
  }

  private async load(version: VersionInfo): Promise<Loaded> {
    let entry = this.loaded.get(version.artifactKey);
    if (!entry) {
      entry = (async () => {
        const core = await this.modelCore();
        return core.loadCheckpoint(await this.registry.versionDir(version));
      })();
      this.loaded.set(version.artifactKey, entry);
      entry.catch(() => this.loaded.delete(version.artifactKey));
      while (this.loaded.size > this.cacheSize) {
        const [oldestKey, oldest] = this.loaded.entries().next().value as [string, Promise<Loaded>];
        this.loaded.delete(oldestKey);
        void oldest.then((l) => l.model.dispose()).catch(() => undefined);
      }
    }
    return entry;
  }

  async predict(ref: string, scan: CheckedScan): Promise<RegistryPrediction> {
    const version = await this.registry.resolve(ref);
    const alias = ref.includes('@') && !/@v\d+$/.test(ref) ? ref.slice(ref.lastIndexOf('@') + 1) : null;
    const run = this.queue.then(async () => {
      const core = await this.modelCore();
      const loaded = await this.load(version);
      const explained = await core.explainScan(loaded, scan.bytes);
      const scanPng = await sharp(scan.bytes, { limitInputPixels: MAX_UPLOAD_PIXELS })
        .rotate()
        .resize(384, 384, { fit: 'inside', withoutEnlargement: true })
        .png()
        .toBuffer();
      const p = loaded.state.preprocessing;
      return {
        model: version.model,
        version: version.version,
        alias,
        classes: explained.prediction.classes,
        probabilities: explained.prediction.probabilities,
        predicted: explained.prediction.predicted,
        preprocessing: {
          imageSize: loaded.state.imageSize,
          grayscale: p.grayscale,
          resize: p.resize,
          kernel: p.kernel,
          pixelScale: loaded.state.pixelScale,
          scale: `greyscale 0–255 × ${+loaded.state.pixelScale.toPrecision(6)} (→ 0–1)`,
        },
        input: { format: scan.format, width: scan.width, height: scan.height },
        gradcam: {
          layer: explained.gradcam.layerName,
          classIndex: explained.gradcam.classIndex,
          width: explained.gradcam.width,
          height: explained.gradcam.height,
        },
        images: {
          scan: dataUrl(scanPng),
          modelInput: dataUrl(explained.modelInputPng),
          gradcam: dataUrl(explained.overlayPng),
        },
      } satisfies RegistryPrediction;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  dispose(): void {
    for (const entry of this.loaded.values())
      void entry.then((l) => l.model.dispose()).catch(() => undefined);
    this.loaded.clear();
  }
}
