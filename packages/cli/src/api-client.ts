import type { z } from 'zod';
import { BraintuneError, apiUrl, readEnv } from '@braintune/protocol';

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
 * the JSON body parsed with `schema`; API errors (`{error, hint}`) become BraintuneErrors.
 */
export async function callApi<S extends z.ZodType>(
  method: 'GET' | 'POST',
  path: string,
  schema: S,
  body?: { text: string; contentType: string },
): Promise<z.infer<S>> {
  const base = clusterSettings().apiUrl;
  const url = new URL(path, base);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body) headers['content-type'] = body.contentType;
  // The API token also grants reads; a read-only client may hold only BRAINTUNE_READ_TOKEN.
  const token =
    process.env.BRAINTUNE_API_TOKEN || (method === 'GET' ? process.env.BRAINTUNE_READ_TOKEN : undefined);
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(body ? { body: body.text } : {}) });
  } catch (err) {
    throw new BraintuneError(
      `cannot reach the braintune API at ${base}`,
      'unavailable',
      'start it with `braintune up` (or `braintune coordinator`), or set BRAINTUNE_URL',
      {
        cause: err,
      },
    );
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = (json ?? {}) as { error?: string; hint?: string; issues?: { path: string; message: string }[] };
    const details = e.issues?.map((i) => `\n  ${i.path}: ${i.message}`).join('') ?? '';
    throw new BraintuneError(
      `${e.error ?? `HTTP ${res.status}`}${details}`,
      res.status === 404 ? 'not_found' : 'api_error',
      e.hint,
    );
  }
  return parseResponse(schema, json, base, `${method} ${url.pathname}`);
}
