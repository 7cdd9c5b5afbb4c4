import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename } from 'node:path';
import { BraintuneError, InvalidInputError, NotFoundError, apiUrl, readEnv } from '@braintune/protocol';
import type { z } from 'zod';
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
import { parseResponse } from '../api-client.js';

// RegistryPrediction is the dashboard's own interface; this fails `tsc` if the schema drifts from it.
const predictionSchemaMatches: SameShape<z.infer<typeof RegistryPredictionSchema>, RegistryPrediction> = true;
void predictionSchemaMatches;

/**
 * The registry commands talk to the running dashboard API (BRAINTUNE_URL, default
 * http://localhost:$PORT) with BRAINTUNE_API_TOKEN, like `submit` and `status` do, so a
 * laptop needs neither database credentials nor the artifact store.
 */
export async function callApi<S extends z.ZodType>(
  path: string,
  schema: S,
  init: RequestInit = {},
): Promise<z.infer<S>> {
  const env = readEnv();
  const base = apiUrl(env);
  const headers = new Headers(init.headers);
  const token = env.BRAINTUNE_API_TOKEN ?? env.BRAINTUNE_READ_TOKEN;
  if (token) headers.set('Authorization', `Bearer ${token}`);
  headers.set('X-Braintune-User', `${process.env.USER ?? userInfo().username} (cli)`);
  let res: Response;
  try {
    res = await fetch(new URL(path, base), { ...init, headers });
  } catch (err) {
    throw new BraintuneError(
      `cannot reach the braintune API at ${base}`,
      'unavailable',
      'start it with `braintune up` (or `braintune dashboard`), or set BRAINTUNE_URL',
      { cause: err },
    );
  }
  const body = (await res.json().catch(() => ({}))) as { message?: string; error?: string; hint?: string };
  if (!res.ok) {
    const message = body.message ?? body.error ?? `HTTP ${res.status}`;
    if (res.status === 401)
      throw new BraintuneError(message, 'unauthorized', "set BRAINTUNE_API_TOKEN to the server's token");
    if (res.status === 404) throw new NotFoundError(message, body.hint);
    if (res.status === 400 || res.status === 413) throw new InvalidInputError(message, body.hint);
    throw new BraintuneError(message, 'api_error', body.hint);
  }
  return parseResponse(schema, body, base, `${init.method ?? 'GET'} ${path}`);
}

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
