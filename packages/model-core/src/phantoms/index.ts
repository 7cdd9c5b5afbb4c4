// TF-free entry point (`@braintune/model-core/phantoms`): synthetic brain-MRI-like slices for
// demos and tests that must not depend on the real data set. Uses sharp only.
export { PHANTOM_CLASSES, renderPhantom } from './render.js';
export type { PhantomClass, RenderPhantomOptions, RenderedPhantom, HeadGeometry } from './render.js';
export { makePhantoms, phantomFileName, MakePhantomsOptionsSchema } from './make.js';
export type { MakePhantomsOptions, MakePhantomsResult } from './make.js';
export {
  LESION_MASK_DIR,
  encodeLesionMasks,
  lesionMaskPath,
  maskCoverage,
  phantomLesionMasks,
  readLesionMasks,
  resampleMask,
} from './masks.js';
export type { LesionMasks } from './masks.js';
