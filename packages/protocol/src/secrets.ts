/**
 * Text that may reach a log line or an HTTP client with a secret inside: connection strings
 * (`postgres://user:password@host`) keep their user and host but lose the password.
 */
export function maskSecrets(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*):[^\s@/"'<>]*@/gi, '$1:***@');
}

/** A connection string with its password replaced by `***`, for messages. */
export function maskUrl(url: string): string {
  return maskSecrets(url);
}
