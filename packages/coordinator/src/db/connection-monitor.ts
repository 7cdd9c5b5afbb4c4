import type pg from 'pg';
import { BraintuneError, connectionErrorReason, redactUrl, type Logger } from '@braintune/protocol';

/**
 * SQLSTATEs and socket codes that mean "the session is gone", not "the statement was wrong":
 * admin shutdown / crash / cannot connect now (57P01–57P03), connection exceptions (08xxx), and
 * the socket errors of a server that is down or restarting.
 */
const CONNECTION_CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
]);

/** Whether `err` (or its `cause`, as drizzle wraps driver errors) says the connection was lost. */
export function isConnectionLoss(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | null; e;) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (CONNECTION_CODES.has(code) || code.startsWith('08')) return true;
    const message = typeof e.message === 'string' ? e.message : '';
    // node-postgres reports a socket closed under a query with these words and no code.
    if (/Connection terminated|connection not open|Client has encountered a connection error/i.test(message))
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * What an HTTP client is told about a query that failed because Postgres is unreachable: a 503
 * without the server log line (the pool's monitor logs the loss once, not once per request).
 */
export function asDatabaseUnavailable(err: unknown): unknown {
  if (!isConnectionLoss(err)) return err;
  return new BraintuneError(
    'the database is unreachable; the server is reconnecting',
    'unavailable',
    'try again in a few seconds',
    { cause: err },
  );
}

export interface ConnectionMonitorOptions {
  /** How often a lost pool probes the server with `SELECT 1` (default 1 s). */
  probeMs?: number;
}

/**
 * The pool's view of its server, logged like the Redis connections (`logConnectionState`):
 * the first lost session logs one warning, the pool then probes until a query succeeds and logs
 * one recovery line. node-postgres has no reconnect events of its own (every query checks out
 * or opens a client), so losses are learnt from the clients' 'error' events — a terminated or
 * restarted server ends every session, idle or busy — and from `report()`ed query failures.
 */
export class ConnectionMonitor {
  private lost = false;
  private probe: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly log: Logger,
    private readonly options: ConnectionMonitorOptions = {},
  ) {
    pool.on('error', (err) => this.report(err));
    pool.on('connect', (client) => client.on('error', (err) => this.report(err)));
  }

  /** True between a lost connection and the first successful probe. */
  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Notes a failed query; returns whether it failed because the connection was lost (callers
   * then log at debug level: the loss itself is logged here, once).
   */
  report(err: unknown): boolean {
    if (!isConnectionLoss(err)) return false;
    if (this.lost || this.closed) return true;
    this.lost = true;
    this.log.warn(
      { target: redactUrl(this.url), reason: connectionErrorReason(err) },
      'lost the connection to Postgres; retrying',
    );
    this.scheduleProbe();
    return true;
  }

  private scheduleProbe(): void {
    this.probe = setTimeout(() => void this.runProbe(), this.options.probeMs ?? 1000);
    this.probe.unref();
  }

  private async runProbe(): Promise<void> {
    this.probe = null;
    if (this.closed) return;
    try {
      await this.pool.query('SELECT 1');
    } catch {
      if (!this.closed) this.scheduleProbe();
      return;
    }
    this.lost = false;
    this.log.info({ target: redactUrl(this.url) }, 'connection to Postgres recovered');
  }

  close(): void {
    this.closed = true;
    if (this.probe) clearTimeout(this.probe);
    this.probe = null;
  }
}

/**
 * Logs a failure at `level`, or at debug when it is a lost Postgres connection that `monitor`
 * has already reported once (its fallout must not flood the log while the server is away).
 */
export function logFailure(
  monitor: ConnectionMonitor | null,
  log: Logger,
  err: unknown,
  msg: string,
  level: 'warn' | 'error',
  fields: Record<string, unknown> = {},
): void {
  const at = monitor?.report(err) ? 'debug' : level;
  log[at]({ ...fields, err: err instanceof Error ? err.message : String(err) }, msg);
}
