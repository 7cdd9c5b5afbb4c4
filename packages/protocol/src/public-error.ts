import { InvalidInputError } from './errors.js';

/**
 * What `studies.error` (readable by any API client) may say about a failed preparation: the
 * user's own mistakes, phrased with the path as they wrote it; anything else is generic (the
 * log of the worker that prepared the data has the details), so no host path or internal state leaks.
 */
export function publicPreparationError(err: unknown, realDir: string | null, requested: string): string {
  if (!(err instanceof InvalidInputError))
    return 'internal error while reading the data set (see the worker log)';
  let text = err.message;
  if (realDir) text = text.split(realDir).join(requested.replace(/\/+$/, ''));
  return redactAbsolutePaths(text);
}

/** Our own URL paths, which hints name on purpose (`GET /api/studies`). */
const URL_SPACE =
  /^\/(api|queues|static|vendor|studies|trials|registry|predict|healthz|readyz|metrics)(\/|$|\?)/;

/** Replaces every absolute filesystem path (and file:// URL) left in a message by `<path>`. */
export function redactAbsolutePaths(text: string): string {
  return text
    .replace(/file:\/\/[^\s"'),;]+/g, '<path>')
    .replace(/(^|[\s"'(=])(\/[^\s"'),;]+)/g, (m, lead: string, p: string) =>
      URL_SPACE.test(p) ? m : `${lead}<path>`,
    );
}

/** Connection strings (Postgres, Redis) in full: a client needs neither their host nor their user. */
export function redactConnectionStrings(text: string): string {
  return text.replace(/\b(postgres(?:ql)?|rediss?):\/\/[^\s"'<>),;]+/gi, '<$1 connection>');
}

/** What an HTTP error body may say: no host paths, no connection strings. */
export function publicMessage(text: string): string;
export function publicMessage(text: string | undefined): string | undefined;
export function publicMessage(text: string | undefined): string | undefined {
  return text === undefined ? undefined : redactAbsolutePaths(redactConnectionStrings(text));
}
