import pg from 'pg';
import { studySnapshot, type Db, type StudySnapshot } from '@braintune/coordinator';
import type { Logger } from '@braintune/protocol';
import { snapshotDelta } from './live-delta.js';

/** The channel the coordinator notifies (payload: the study id) after each recorded event. */
export const EVENTS_CHANNEL = 'braintune_events';

/** One server-sent event of a study's feed: a whole snapshot, or the changes since the previous event. */
export interface FeedEvent {
  kind: 'snapshot' | 'delta';
  seq: number;
  json: string;
}
type Listener = (event: FeedEvent) => void;

interface StudyFeed {
  listeners: Set<Listener>;
  /** The last snapshot published (deltas are computed against it) and its sequence number. */
  last: { seq: number; snapshot: StudySnapshot; event: FeedEvent } | null;
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
 * Turns Postgres notifications into live updates pushed to browsers: one LISTEN connection per
 * dashboard process, one snapshot query per burst of events per study (shared by every open
 * page), never more than one in flight per study. A page receives the feed's last snapshot
 * when it subscribes, then numbered deltas against it (live-delta.ts).
 */
export class StudyEventHub {
  private client: pg.ClientBase | null = null;
  private release: (() => void) | null = null;
  private readonly feeds = new Map<string, StudyFeed>();
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

  /**
   * Adds a page to the study's feed: it gets the last snapshot at once (or the first one when
   * it is computed), then every delta.
   */
  subscribe(studyId: string, listener: Listener): () => void {
    let feed = this.feeds.get(studyId);
    if (!feed)
      this.feeds.set(
        studyId,
        (feed = { listeners: new Set(), last: null, busy: false, dirty: false, timer: null, refresh: null }),
      );
    feed.listeners.add(listener);
    if (feed.last) listener(feed.last.event);
    else this.schedule(studyId, 0);
    return () => {
      feed.listeners.delete(listener);
      if (feed.listeners.size === 0 && !feed.busy) {
        if (feed.timer) clearTimeout(feed.timer);
        if (feed.refresh) clearTimeout(feed.refresh);
        this.feeds.delete(studyId);
      }
    };
  }

  /** The feed's newest snapshot event (what a page whose socket was full gets once it drains). */
  latest(studyId: string): FeedEvent | null {
    return this.feeds.get(studyId)?.last?.event ?? null;
  }

  /** Computes and pushes an update soon (coalescing bursts). */
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
      const snapshot = await studySnapshot(this.db, studyId);
      const seq = (feed.last?.seq ?? 0) + 1;
      const whole: FeedEvent = { kind: 'snapshot', seq, json: JSON.stringify({ seq, ...snapshot }) };
      const event: FeedEvent = feed.last
        ? { kind: 'delta', seq, json: JSON.stringify(snapshotDelta(feed.last.snapshot, snapshot, seq)) }
        : whole;
      feed.last = { seq, snapshot, event: whole };
      for (const listener of feed.listeners) listener(event);
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
