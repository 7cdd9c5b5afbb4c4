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
 * Calls the braintune REST API at BRAINTUNE_URL (default http://localhost:$PORT) and returns
 * the parsed JSON body; API errors (`{error, hint}`) become BraintuneErrors.
 */
export async function callApi(method: 'GET' | 'POST', path: string, body?: { text: string; contentType: string }): Promise<unknown> {
  const base = clusterSettings().apiUrl;
  const url = new URL(path, base);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body) headers['content-type'] = body.contentType;
  const token = process.env.BRAINTUNE_API_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(body ? { body: body.text } : {}) });
  } catch (err) {
    throw new BraintuneError(`cannot reach the braintune API at ${base}`, 'unavailable', 'start it with `braintune up` (or `braintune coordinator`), or set BRAINTUNE_URL', {
      cause: err,
    });
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
    throw new BraintuneError(`${e.error ?? `HTTP ${res.status}`}${details}`, res.status === 404 ? 'not_found' : 'api_error', e.hint);
  }
  return json;
}
