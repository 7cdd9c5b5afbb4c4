import { InvalidInputError } from '@braintune/protocol';

/**
 * What `studies.error` (readable by any API client) may say about a failed preparation: the
 * user's own mistakes, phrased with the path as they wrote it; anything else is generic (the
 * coordinator log has the details), so no host path or internal state leaks.
 */
export function publicPreparationError(err: unknown, realDir: string | null, requested: string): string {
  if (!(err instanceof InvalidInputError))
    return 'internal error while reading the data set (see the coordinator log)';
  let text = err.message;
  if (realDir) text = text.split(realDir).join(requested.replace(/\/+$/, ''));
  return redactAbsolutePaths(text);
}

/** Replaces every absolute filesystem path left in a message by `<path>`. */
export function redactAbsolutePaths(text: string): string {
  return text.replace(/(^|[\s"'(=])(\/[^\s"'),;]+)/g, (_m, lead: string) => `${lead}<path>`);
}
