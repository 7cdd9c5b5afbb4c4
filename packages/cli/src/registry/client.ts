import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { z } from 'zod';
import { InvalidInputError } from '@braintune/protocol';
import {
  ListModelsResponseSchema,
  MAX_PAGE_SIZE,
  PromoteResultSchema,
  RegistryPredictionSchema,
  type ModelInfo,
  type PromoteResult,
  type SameShape,
} from '@braintune/coordinator';
import type { RegistryPrediction } from '@braintune/dashboard';
import { callApi } from '../api-client.js';

// RegistryPrediction is the dashboard's own interface; this fails `tsc` if the schema drifts from it.
const predictionSchemaMatches: SameShape<z.infer<typeof RegistryPredictionSchema>, RegistryPrediction> = true;
void predictionSchemaMatches;

export function promote(input: {
  studyId: string;
  trialId?: string;
  model: string;
  alias?: string;
  top?: number;
}): Promise<PromoteResult> {
  return callApi('/api/models/promote', PromoteResultSchema, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(input),
  });
}

/** Every registered model: the API pages them, so this reads page after page. */
export async function listModels(): Promise<ModelInfo[]> {
  const all: ModelInfo[] = [];
  for (;;) {
    const { models } = await callApi(
      `/api/models?limit=${MAX_PAGE_SIZE}&offset=${all.length}`,
      ListModelsResponseSchema,
    );
    all.push(...models);
    if (models.length < MAX_PAGE_SIZE) return all;
  }
}

/** One scan through `POST /api/predict` with a registry version (`NAME`, `NAME@ALIAS`, `NAME@vN`). */
export async function predictWithModel(
  image: string,
  model: string,
  options: { tta?: boolean } = {},
): Promise<RegistryPrediction> {
  let bytes: Buffer;
  try {
    bytes = await readFile(image);
  } catch (err) {
    throw new InvalidInputError(
      `cannot read image ${image}: ${(err as Error).message}`,
      'pass the path of a JPEG or PNG file',
    );
  }
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)]), basename(image));
  form.append('model', model);
  if (options.tta === true) form.append('tta', 'true');
  return callApi('/api/predict', RegistryPredictionSchema, { method: 'POST', body: form });
}
