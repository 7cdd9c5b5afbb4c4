import sharp from 'sharp';
import type { RegistryService, VersionInfo } from '@braintune/coordinator';
import { DEFAULT_CROP_MARGIN, type CamMethod, type ExplainOptions, type Logger } from '@braintune/protocol';
import type { CheckedScan } from './uploads.js';

// Type-only: the module itself is imported on the first prediction.
import type * as ModelCoreModule from '@braintune/model-core';

type ModelCore = typeof ModelCoreModule;
type Loaded = Awaited<ReturnType<ModelCore['loadPredictor']>>;

/** A prediction of model-core's `predict`, with the registry version and what it was shown. */
export interface RegistryPrediction extends ModelCoreModule.Prediction {
  model: string;
  version: number;
  alias: string | null;
  ensemble: { members: { rank: number; trialId: string | null }[] } | null;
  preprocessing: {
    imageSize: number;
    grayscale: boolean;
    resize: string;
    kernel: string;
    pixelScale: number;
    scale: string;
    /** Head crop and intensity standardisation of the bundle the model was trained on. */
    headCrop: boolean;
    cropMargin: number;
    intensity: string;
  };
  input: { format: string; width: number; height: number };
  gradcam: { layer: string; method: CamMethod; classIndex: number; width: number; height: number };
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
        return core.loadPredictor(await this.registry.versionDir(version));
      })();
      this.loaded.set(version.artifactKey, entry);
      entry.catch(() => this.loaded.delete(version.artifactKey));
      while (this.loaded.size > this.cacheSize) {
        const [oldestKey, oldest] = this.loaded.entries().next().value as [string, Promise<Loaded>];
        this.loaded.delete(oldestKey);
        void oldest.then((l) => this.core?.then((c) => c.disposePredictor(l))).catch(() => undefined);
      }
    }
    return entry;
  }

  /** `explain` picks the explanation (model-core's DEFAULT_CAM when omitted). */
  async predict(
    ref: string,
    scan: CheckedScan,
    options: { tta?: boolean; explain?: ExplainOptions } = {},
  ): Promise<RegistryPrediction> {
    const version = await this.registry.resolve(ref);
    const alias = ref.includes('@') && !/@v\d+$/.test(ref) ? ref.slice(ref.lastIndexOf('@') + 1) : null;
    const run = this.queue.then(async () => {
      const core = await this.modelCore();
      const loaded = await this.load(version);
      // An ensemble is explained through its best member: one heatmap, not an average of K.
      const explainer = core.isEnsemble(loaded) ? loaded.members[0]! : loaded;
      const prediction = await core.predict(loaded, scan.pixels, { tta: options.tta === true });
      const explained = await core.explainScan(explainer, scan.pixels, { cam: options.explain ?? {} });
      const { data, width, height, channels } = scan.pixels;
      const scanPng = await sharp(data, { raw: { width, height, channels } })
        .resize(384, 384, { fit: 'inside', withoutEnlargement: true })
        .png()
        .toBuffer();
      const state = explainer.state;
      const p = state.preprocessing;
      return {
        model: version.model,
        version: version.version,
        alias,
        classes: prediction.classes,
        probabilities: prediction.probabilities,
        predicted: prediction.predicted,
        confidence: prediction.confidence,
        threshold: prediction.threshold,
        refer: prediction.refer,
        decision: prediction.decision,
        temperature: prediction.temperature,
        tta: prediction.tta,
        ensemble: core.isEnsemble(loaded)
          ? {
              members: loaded.members.map((_, i) => ({
                rank: i + 1,
                trialId: version.members?.[i]?.trialId ?? null,
              })),
            }
          : null,
        preprocessing: {
          imageSize: state.imageSize,
          grayscale: p.grayscale,
          resize: p.resize,
          kernel: p.kernel,
          pixelScale: state.pixelScale,
          scale: `greyscale 0–255 × ${+state.pixelScale.toPrecision(6)} (→ 0–1)`,
          headCrop: p.headCrop ?? false,
          cropMargin: p.cropMargin ?? DEFAULT_CROP_MARGIN,
          intensity: p.intensity ?? 'none',
        },
        input: { format: scan.format, width: scan.width, height: scan.height },
        gradcam: {
          layer: explained.gradcam.layerName,
          method: explained.gradcam.method,
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
      void entry.then((l) => this.core?.then((c) => c.disposePredictor(l))).catch(() => undefined);
    this.loaded.clear();
  }
}
