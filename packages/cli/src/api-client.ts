import { userInfo } from 'node:os';
import type { z } from 'zod';
import {
  ApiErrorBodySchema,
  BraintuneError,
  InvalidInputError,
  NotFoundError,
  apiUrl,
  readEnv,
} from '@braintune/protocol';

/** Settings of a braintune cluster from the environment (DATABASE_URL, REDIS_URL, ARTIFACT_ROOT, PORT, …). */
export function clusterSettings() {
  const env = readEnv();
  return {
    env,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    prefix: env.BRAINTUNE_QUEUE_PREFIX,
    artifactRoot: env.ARTIFACT_ROOT,
    port: env.PORT,
    apiUrl: apiUrl(env),
  };
}

/**
 * Validates a successful response body against the schema the server promises for it: a
 * mismatch means a different server (or version), not a bug to surface as a TypeError later.
 */
export function parseResponse<S extends z.ZodType>(
  schema: S,
  json: unknown,
  base: string,
  what: string,
): z.infer<S> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues
    .slice(0, 5)
    .map((i) => `\n  ${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('');
  throw new BraintuneError(
    `unexpected response from ${what}${details}`,
    'api_error',
    `the server at ${base} answered something this CLI does not understand: is it the same braintune version?`,
  );
}

/**
 * Calls the braintune REST API at BRAINTUNE_URL (default http://localhost:$PORT) and returns
 * the JSON body parsed with `schema`. Every command that talks to a running cluster goes through
 * here, so a laptop needs neither database credentials nor the artifact store. API errors
 * (ApiErrorBody: `{error, message, hint, issues}`) become typed BraintuneErrors.
 */
export async function callApi<S extends z.ZodType>(
  path: string,
  schema: S,
  init: RequestInit = {},
): Promise<z.infer<S>> {
  const base = clusterSettings().apiUrl;
  const url = new URL(path, base);
  const method = init.method ?? 'GET';
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  headers.set('X-Braintune-User', `${process.env.USER ?? userInfo().username} (cli)`);
  // The API token also grants reads; a read-only client may hold only BRAINTUNE_READ_TOKEN.
  const token =
    process.env.BRAINTUNE_API_TOKEN || (method === 'GET' ? process.env.BRAINTUNE_READ_TOKEN : undefined);
  if (token) headers.set('authorization', `Bearer ${token}`);
  let res: Response;
  try {
    res = await fetch(url, { ...init, method, headers });
  } catch (err) {
    throw new BraintuneError(
      `cannot reach the braintune API at ${base}`,
      'unavailable',
      'start it with `braintune up` (or `braintune coordinator` and `braintune dashboard`), or set BRAINTUNE_URL',
      { cause: err },
    );
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) throw apiError(res.status, json);
  return parseResponse(schema, json, base, `${method} ${url.pathname}`);
}

/** The typed error of an API error answer (ApiErrorBody), with its hint and the fields it names. */
function apiError(status: number, json: unknown): BraintuneError {
  const parsed = ApiErrorBodySchema.safeParse(json);
  const e = parsed.success ? parsed.data : null;
  const message = `${e?.message ?? `HTTP ${status}`}${e?.issues?.map((i) => `\n  ${i.path}: ${i.message}`).join('') ?? ''}`;
  if (status === 401)
    return new BraintuneError(message, 'unauthorized', "set BRAINTUNE_API_TOKEN to the server's token");
  if (status === 404) return new NotFoundError(message, e?.hint);
  if (status === 400 || status === 413) return new InvalidInputError(message, e?.hint);
  return new BraintuneError(message, 'api_error', e?.hint);
}
