import type { Logger } from 'pino';

/** The URL as shown to people: the password replaced, nothing else changed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return '(an invalid URL)';
  }
}

/** A short reason from a connection error (`ECONNREFUSED connect ECONNREFUSED 127.0.0.1:1`). */
export function connectionErrorReason(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return 'unknown error';
  const message = e.message ?? String(err);
  return e.code && !message.includes(e.code) ? `${e.code} ${message}` : message;
}

/** What ioredis connections emit (structural, so this package needs no ioredis). */
interface ReconnectingClient {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'reconnecting' | 'ready', listener: () => void): unknown;
}

/**
 * Logs a lost connection once, then once more when it is back: ioredis reconnects by itself,
 * and without this a Redis restart is either silent or one error line per retry.
 */
export function logConnectionState(client: ReconnectingClient, what: string, url: string, log: Logger): void {
  let lost = false;
  let lastError: unknown = null;
  client.on('error', (err) => (lastError = err));
  // 'reconnecting' fires only for a connection lost by accident, never after disconnect().
  client.on('reconnecting', () => {
    if (lost) return;
    lost = true;
    log.warn(
      { target: redactUrl(url), ...(lastError ? { reason: connectionErrorReason(lastError) } : {}) },
      `lost the connection to ${what}; retrying`,
    );
  });
  client.on('ready', () => {
    if (!lost) return;
    lost = false;
    log.info({ target: redactUrl(url) }, `connection to ${what} recovered`);
  });
}

/**
 * Closes a BullMQ queue that shares a caller-owned connection. BullMQ's close does not wait for
 * the queue's start-up (it asks Redis for its version) when the connection is shared, so a
 * caller that disconnects right after would leave that request to reject with nobody listening.
 * Structural, so this package needs no BullMQ.
 */
export async function closeQueue(queue: {
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}): Promise<void> {
  await queue.waitUntilReady().catch(() => undefined);
  await queue.close();
}
