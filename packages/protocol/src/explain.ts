import { z } from 'zod';

/**
 * How a class-activation map weights the feature map (see model-core's explain/gradcam.ts):
 * `gradcam` (Selvaraju et al., 2017), `gradcam++` (Chattopadhay et al., 2018), `layercam`
 * (Jiang et al., 2021).
 */
export const CamMethodSchema = z.enum(['gradcam', 'gradcam++', 'layercam']);
export type CamMethod = z.infer<typeof CamMethodSchema>;

/** `last` (last conv, coarse), `fine` (finest map with ≥ 12 cells a side) or a layer name. */
export const CamLayerSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_./-]+$/, 'a layer name: letters, digits, _ . / -');

/** The explanation a prediction request may ask for; omitted fields take the default. */
export const ExplainOptionsSchema = z.object({
  method: CamMethodSchema.optional(),
  layer: CamLayerSchema.optional(),
});
export type ExplainOptions = z.infer<typeof ExplainOptionsSchema>;
