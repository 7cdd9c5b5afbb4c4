import { sql, type SQL } from 'drizzle-orm';
import pg from 'pg';
import { BraintuneError, type Logger } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';

/** A write attempted by a coordinator that no longer holds the leadership lock. */
export class FencedError extends BraintuneError {
  constructor() {
    super(
      'this coordinator lost the leadership lock: its write was refused',
      'fenced',
      'another coordinator leads the database now; this one stands by',
    );
  }
}

/** Advisory-lock key of "the coordinator of this database" (any constant; scoped to the database). */
const LEADER_KEY = 7_243_912;
/** Liveness probes a lock session may miss before the server ends it (idle_session_timeout). */
const IDLE_PROBES = 4;

/**
 * Exactly one coordinator may act on a database: it is the process holding a session-level
 * advisory lock on a dedicated connection. Others stand by and take over when the holder's
 * connection ends (crash, SIGKILL, network loss): Postgres releases the lock with the session.
 * Deploying two coordinators therefore gives active/standby, never two writers with
 * diverging in-memory state.
 *
 * A connection can also die without either side noticing (a half-open TCP session after a
 * network partition): TCP keep-alives and a periodic liveness query detect it on this side,
 * `idle_session_timeout` on the server's side (the lock is released), and every write
 * transaction is fenced — it checks, inside the transaction, that the lock is still held by
 * this process's lock session (its backend pid is the fencing token), so a deposed leader that
 * has not yet noticed can never commit.
 */
export class Leadership {
  private client: pg.Client | null = null;
  private leading = false;
  private closed = false;
  /** Backend pid of the session holding the lock: the fencing token. */
  private token: number | null = null;
  private liveness: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly log: Logger,
    private readonly onChange: (leading: boolean) => void,
    private readonly retryMs = 2000,
    /** How often the lock session is probed; a probe unanswered this long ends leadership. */
    private readonly livenessMs = 5000,
  ) {}

  /**
   * Throws FencedError unless the leadership lock is still held by this process's session.
   * Call inside every write transaction: the check and the writes commit together or not at all.
   */
  async fence(tx: DbOrTx): Promise<void> {
    const rows = await tx.execute(sql`SELECT 1 WHERE ${this.fenceCondition()}`);
    this.confirmFence(rows.rows.length > 0);
  }

  /**
   * The fence as a condition a transaction's first query can select (saving the round trip of
   * its own query); the caller must hand the selected value to confirmFence before writing.
   */
  fenceCondition(): SQL {
    const token = this.token;
    if (!this.leading || token === null) throw new FencedError();
    return sql`EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = ${LEADER_KEY} AND objsubid = 1 AND pid = ${token} AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;
  }

  /** Throws FencedError (and stands down) unless fenceCondition held. */
  confirmFence(held: boolean): void {
    if (held) return;
    void this.lost();
    throw new FencedError();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this process leads (waits while another coordinator does). */
  async acquire(): Promise<void> {
    let waiting = false;
    while (!this.closed) {
      try {
        if (await this.tryOnce()) return;
        if (!waiting) this.log.warn('another coordinator leads this database; standing by');
        waiting = true;
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message },
          'cannot reach Postgres for the leadership lock; retrying',
        );
      }
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  private async tryOnce(): Promise<boolean> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      keepAlive: true,
      keepAliveInitialDelayMillis: this.livenessMs,
      // Across a partition a connect would otherwise hang until the OS gives up (minutes).
      connectionTimeoutMillis: 2 * this.livenessMs,
    });
    client.on('error', () => undefined);
    await client.connect();
    // The server's side of a half-open connection: a session that stops hearing the liveness
    // probes ends by itself, and with it the lock, so a standby can take over (the TCP peer may
    // still answer keep-alives, e.g. a proxy or NAT in between). PostgreSQL 14+.
    await client
      .query(`SET idle_session_timeout = ${IDLE_PROBES * this.livenessMs}`)
      .catch((err: unknown) =>
        this.log.debug(
          { err: (err as Error).message },
          'idle_session_timeout unsupported; relying on keep-alives',
        ),
      );
    const res = await client.query<{ ok: boolean; pid: number }>(
      'SELECT pg_try_advisory_lock($1) AS ok, pg_backend_pid() AS pid',
      [LEADER_KEY],
    );
    if (!res.rows[0]?.ok) {
      await client.end();
      return false;
    }
    this.client = client;
    this.token = res.rows[0].pid;
    this.leading = true;
    // The lock lives as long as this session: losing the connection loses leadership.
    client.on('end', () => void this.lost());
    this.liveness = setInterval(() => void this.probe(client), this.livenessMs);
    this.liveness.unref();
    this.onChange(true);
    return true;
  }

  /** One liveness query; no answer within livenessMs means the session is gone (or half-open). */
  private async probe(client: pg.Client): Promise<void> {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${this.livenessMs} ms`)), this.livenessMs).unref(),
    );
    try {
      await Promise.race([client.query('SELECT 1'), timeout]);
    } catch (err) {
      if (this.client !== client) return;
      this.log.error({ err: (err as Error).message }, 'leadership session failed its liveness check');
      // Drop the socket: a half-open connection would never report its own end.
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      void this.lost();
    }
  }

  private async lost(): Promise<void> {
    if (this.closed || !this.leading) return;
    this.leading = false;
    this.token = null;
    if (this.liveness) clearInterval(this.liveness);
    this.liveness = null;
    this.client = null;
    this.log.error('lost the leadership connection to Postgres; pausing until it is regained');
    this.onChange(false);
    await this.acquire();
  }

  async release(): Promise<void> {
    this.closed = true;
    this.leading = false;
    this.token = null;
    if (this.liveness) clearInterval(this.liveness);
    this.liveness = null;
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => undefined);
  }
}
