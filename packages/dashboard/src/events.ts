import pg from 'pg';
import type { Db } from '@braintune/coordinator';
import type { Logger } from '@braintune/protocol';
import { studySnapshot, type StudySnapshot } from './read-model.js';

/** The channel the coordinator notifies (payload: the study id) after each recorded event. */
export const EVENTS_CHANNEL = 'braintune_events';

type Listener = (snapshotJson: string) => void;

interface StudyFeed {
  listeners: Set<Listener>;
  /** A snapshot is being computed; `dirty` asks for another one right after. */
  busy: boolean;
  dirty: boolean;
  timer: NodeJS.Timeout | null;
  /** While the study runs, a snapshot at least this often (worker heartbeats and elapsed time change without events). */
  refresh: NodeJS.Timeout | null;
}

/** Quiet period after which a running study's pages get a fresh snapshot anyway. */
const REFRESH_MS = 5000;

/**
 * Turns Postgres notifications into leaderboard snapshots pushed to browsers: one LISTEN
 * connection per dashboard process, one snapshot per burst of events per study (shared by
 * every open page), never more than one snapshot query in flight per study.
 */
export class StudyEventHub {
  private client: pg.ClientBase | null = null;
  private release: (() => void) | null = null;
  private readonly feeds = new Map<string, StudyFeed>();
  /** Last notification time per study, so a page that connects late can tell whether it missed one. */
  private readonly lastEventAt = new Map<string, number>();
  private stopped = false;
  private retryMs = 500;

  constructor(
    /** A connection string, or a pool to borrow one long-lived connection from. */
    private readonly source: string | pg.Pool,
    private readonly db: Db,
    private readonly logger: Logger,
    /** Notifications arriving within this window become one snapshot. */
    private readonly coalesceMs = 50,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  private async connect(): Promise<void> {
    let client: pg.ClientBase;
    try {
      if (typeof this.source === 'string') {
        const own = new pg.Client({ connectionString: this.source });
        await own.connect();
        client = own;
        this.release = () => void own.end().catch(() => undefined);
      } else {
        const pooled = await this.source.connect();
        client = pooled;
        // Destroy rather than return: a LISTENing connection must not be reused by queries.
        this.release = () => pooled.release(true);
      }
    } catch (err) {
      this.logger.warn({ err }, 'cannot connect to Postgres for live updates; retrying');
      this.reconnectLater();
      return;
    }
    client.on('notification', (msg) => {
      if (msg.channel !== EVENTS_CHANNEL || !msg.payload) return;
      this.lastEventAt.set(msg.payload, Date.now());
      this.schedule(msg.payload);
    });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'event listener connection lost; reconnecting');
      this.reconnectLater();
    });
    client.on('end', () => this.reconnectLater());
    try {
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      this.client = client;
      this.retryMs = 500;
      // Events may have been missed while disconnected: refresh every open page.
      for (const id of this.feeds.keys()) this.schedule(id);
    } catch (err) {
      this.logger.warn({ err }, 'cannot LISTEN on Postgres; retrying');
      client.removeAllListeners('end');
      this.client = client;
      this.reconnectLater();
    }
  }

  private reconnectLater(): void {
    if (this.stopped) return;
    this.dropClient();
    const delay = this.retryMs;
    this.retryMs = Math.min(10_000, this.retryMs * 2);
    setTimeout(() => {
      if (!this.stopped && !this.client) void this.connect();
    }, delay).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const feed of this.feeds.values()) {
      if (feed.timer) clearTimeout(feed.timer);
      if (feed.refresh) clearTimeout(feed.refresh);
    }
    this.feeds.clear();
    this.dropClient();
  }

  private dropClient(): void {
    const old = this.client;
    this.client = null;
    if (old) {
      old.removeAllListeners();
      old.on('error', () => undefined);
    }
    this.release?.();
    this.release = null;
  }

  /** Whether the study had an event after `since` (ms since epoch). */
  changedSince(studyId: string, since: number): boolean {
    return (this.lastEventAt.get(studyId) ?? 0) > since;
  }

  subscribe(studyId: string, listener: Listener): () => void {
    let feed = this.feeds.get(studyId);
    if (!feed)
      this.feeds.set(
        studyId,
        (feed = { listeners: new Set(), busy: false, dirty: false, timer: null, refresh: null }),
      );
    feed.listeners.add(listener);
    return () => {
      feed.listeners.delete(listener);
      if (feed.listeners.size === 0 && !feed.busy) {
        if (feed.timer) clearTimeout(feed.timer);
        if (feed.refresh) clearTimeout(feed.refresh);
        this.feeds.delete(studyId);
      }
    };
  }

  /** Computes and pushes a snapshot soon (coalescing bursts). */
  schedule(studyId: string, delayMs = this.coalesceMs): void {
    const feed = this.feeds.get(studyId);
    if (!feed || feed.listeners.size === 0) return;
    if (feed.busy) {
      feed.dirty = true;
      return;
    }
    if (feed.timer) return;
    feed.timer = setTimeout(() => {
      feed.timer = null;
      void this.publish(studyId, feed);
    }, delayMs);
  }

  private async publish(studyId: string, feed: StudyFeed): Promise<void> {
    feed.busy = true;
    feed.dirty = false;
    if (feed.refresh) clearTimeout(feed.refresh);
    feed.refresh = null;
    try {
      const snapshot: StudySnapshot = await studySnapshot(this.db, studyId);
      const json = JSON.stringify(snapshot);
      for (const listener of feed.listeners) listener(json);
      if ((snapshot.study.state === 'preparing' || snapshot.study.state === 'running') && !this.stopped) {
        feed.refresh = setTimeout(() => this.schedule(studyId, 0), REFRESH_MS);
        feed.refresh.unref();
      }
    } catch (err) {
      this.logger.warn({ err, studyId }, 'snapshot for live update failed');
    } finally {
      feed.busy = false;
      if (feed.listeners.size === 0) this.feeds.delete(studyId);
      else if (feed.dirty) this.schedule(studyId, 0);
    }
  }
}
