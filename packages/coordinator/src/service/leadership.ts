import pg from 'pg';
import type { Logger } from '@braintune/protocol';

/** Advisory-lock key of "the coordinator of this database" (any constant; scoped to the database). */
const LEADER_KEY = 7_243_912;

/**
 * Exactly one coordinator may act on a database: it is the process holding a session-level
 * advisory lock on a dedicated connection. Others stand by and take over when the holder's
 * connection ends (crash, SIGKILL, network loss): Postgres releases the lock with the session.
 * Deploying two coordinators therefore gives active/standby, never two writers with
 * diverging in-memory state.
 */
export class Leadership {
  private client: pg.Client | null = null;
  private leading = false;
  private closed = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly log: Logger,
    private readonly onChange: (leading: boolean) => void,
    private readonly retryMs = 2000,
  ) {}

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
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('error', () => undefined);
    await client.connect();
    const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_KEY]);
    if (!res.rows[0]?.ok) {
      await client.end();
      return false;
    }
    this.client = client;
    this.leading = true;
    // The lock lives as long as this session: losing the connection loses leadership.
    client.on('end', () => void this.lost());
    this.onChange(true);
    return true;
  }

  private async lost(): Promise<void> {
    if (this.closed || !this.leading) return;
    this.leading = false;
    this.client = null;
    this.log.error('lost the leadership connection to Postgres; pausing until it is regained');
    this.onChange(false);
    await this.acquire();
  }

  async release(): Promise<void> {
    this.closed = true;
    this.leading = false;
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => undefined);
  }
}
