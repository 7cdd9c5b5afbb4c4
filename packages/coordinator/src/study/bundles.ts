import {
  canonicalPreprocessing,
  HyperparametersSchema,
  PreprocessingHyperparametersSchema,
  type PreprocessingHyperparameters,
} from '@braintune/protocol';
import { showValue, valueAt } from './problems.js';
import { discreteValues, type SearchSpace } from './search-space.js';

/*
 * The dataset bundles a study needs: one per (image size, preprocessing) its search space can
 * produce, and the config problems that would make that set unbounded or too large.
 */

/** Each image size is its own dataset bundle: keep the list short. */
export const MAX_IMAGE_SIZES = 8;

/** Every image size a trial of the study may use (one dataset bundle each). */
export function imageSizesOf(config: { searchSpace: SearchSpace }): number[] {
  const spec = config.searchSpace.imageSize;
  if (!spec) return [HyperparametersSchema.shape.imageSize.parse(undefined)];
  const values = discreteValues(spec) ?? [];
  return [...new Set(values.filter((v): v is number => typeof v === 'number'))].sort((a, b) => a - b);
}

/** The preprocessing fields a search space may set; each distinct value is its own bundle. */
const PREPROCESSING_FIELDS = Object.keys(
  PreprocessingHyperparametersSchema.shape,
) as (keyof PreprocessingHyperparameters)[];

/** One dataset bundle a study needs: an image size with a preprocessing. */
export interface BundleVariant {
  imageSize: number;
  preprocessing: PreprocessingHyperparameters;
}

/**
 * Every (imageSize, preprocessing) a trial of the study may use, one dataset bundle each: the
 * product of the discrete values of `imageSize` and `preprocessing.*` in the search space (a
 * superset when some are conditional), canonical and without repeats. Empty when a value set
 * is not discrete (parseStudyConfig reports that).
 */
export function bundleVariantsOf(config: { searchSpace: SearchSpace }): BundleVariant[] {
  let partials: Record<string, unknown>[] = [{}];
  for (const field of PREPROCESSING_FIELDS) {
    const spec = config.searchSpace[`preprocessing.${field}`];
    if (!spec) continue;
    const values = discreteValues(spec, MAX_IMAGE_SIZES) ?? [];
    partials = partials.flatMap((p) => values.map((v) => ({ ...p, [field]: v })));
  }
  const variants = new Map<string, BundleVariant>();
  for (const imageSize of imageSizesOf(config))
    for (const partial of partials) {
      const parsed = PreprocessingHyperparametersSchema.safeParse(partial);
      if (!parsed.success) continue;
      const preprocessing = canonicalPreprocessing(parsed.data);
      variants.set(JSON.stringify([imageSize, preprocessing]), { imageSize, preprocessing });
    }
  return [...variants.values()];
}

/** Problems with the bundles a search space needs: preprocessing values must be a short discrete list. */
export function bundleProblems(space: SearchSpace, data: object): string[] {
  const problems: string[] = [];
  for (const field of PREPROCESSING_FIELDS) {
    const spec = space[`preprocessing.${field}`];
    if (!spec) continue;
    const values = discreteValues(spec, MAX_IMAGE_SIZES);
    if (values === null || values.length > MAX_IMAGE_SIZES)
      problems.push(
        `searchSpace.preprocessing.${field}: got ${showValue(valueAt(data, ['searchSpace', `preprocessing.${field}`]))}, each value is its own dataset bundle: use a choice of at most ${MAX_IMAGE_SIZES} values`,
      );
  }
  if (problems.length === 0) {
    const count = bundleVariantsOf({ searchSpace: space }).length;
    if (count > MAX_IMAGE_SIZES)
      problems.push(
        `searchSpace: imageSize × preprocessing gives ${count} dataset bundles; at most ${MAX_IMAGE_SIZES}: search fewer sizes or preprocessing values`,
      );
  }
  return problems;
}

/** The image size set twice, or searched over more sizes than bundles are allowed. */
export function imageSizeProblems(
  dataset: { imageSize?: number | undefined },
  space: SearchSpace,
  data: object,
): string[] {
  const problems: string[] = [];
  if (dataset.imageSize !== undefined && space.imageSize !== undefined) {
    problems.push(
      `dataset.imageSize: got ${dataset.imageSize}, searchSpace.imageSize also sets the image size; keep only one of them`,
    );
  }
  if (space.imageSize !== undefined) {
    const sizes = discreteValues(space.imageSize, MAX_IMAGE_SIZES);
    if (sizes === null || sizes.length > MAX_IMAGE_SIZES) {
      problems.push(
        `searchSpace.imageSize: got ${showValue(valueAt(data, ['searchSpace', 'imageSize']))}, each size is its own dataset bundle: use a choice of at most ${MAX_IMAGE_SIZES} sizes`,
      );
    }
  }
  return problems;
}
