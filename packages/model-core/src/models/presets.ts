import { resolveHyperparameters, type Hyperparameters, type HyperparametersInput } from '@braintune/protocol';

/**
 * Named points of the hyperparameter space. `seed` is the seed study's CNN (the schema's
 * defaults); `best` is what our experiments found best on the shared data (README,
 * "Best hyperparameters"), and what `braintune train` uses unless told otherwise.
 */
export const PRESETS = {
  seed: {},
  best: {
    family: 'cnn',
    imageSize: 64,
    convBlocks: 4,
    baseFilters: 24,
    convsPerBlock: 1,
    kernelSize: 3,
    convBatchNorm: true,
    convDropout: 0.1,
    pooling: 'flatten',
    denseUnits: 64,
    dense2Units: 16,
    denseBatchNorm: true,
    denseDropout: 0,
    bnMomentum: 0.9,
    preciseBn: true,
    optimizer: 'adam',
    learningRate: 2e-3,
    lrSchedule: 'cosine',
    scheduleEpochs: 15,
    batchSize: 32,
    weightDecay: 1e-4,
    labelSmoothing: 0.05,
    classWeighting: 'none',
    augmentation: { flip: true, rotation: 5, zoom: 0.05, contrast: 0.1 },
  },
} satisfies Record<string, HyperparametersInput>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
export const DEFAULT_PRESET: PresetName = 'best';

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

/** A preset's hyperparameters with `overrides` applied on top (validated; ZodError names the field). */
export function presetHyperparameters(
  name: PresetName = DEFAULT_PRESET,
  overrides: HyperparametersInput = {},
): Hyperparameters {
  const base: HyperparametersInput = PRESETS[name];
  return resolveHyperparameters({
    ...base,
    ...overrides,
    augmentation: { ...(base.augmentation ?? {}), ...(overrides.augmentation ?? {}) },
    preprocessing: { ...(base.preprocessing ?? {}), ...(overrides.preprocessing ?? {}) },
  });
}
