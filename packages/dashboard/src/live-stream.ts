import type { Request, Response } from 'express';
import type { FeedEvent, StudyEventHub } from './events.js';
import { HttpError } from './uploads.js';

/** Study ids as the coordinator makes them (`st-` + hex), or a seeded fixture's name. */
const STUDY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const KEEP_ALIVE_MS = 15_000;

/**
 * `GET /api/studies/:id/events`: the study's live feed as server-sent events — a `snapshot`
 * first, then numbered `delta`s. Streams are capped per client address and in total.
 * Back-pressure: while the socket's buffer is full, deltas are dropped and the feed's newest
 * snapshot is sent once it drains (the page resynchronises on it, as after a missed seq).
 */
export function liveStreamHandler(hub: StudyEventHub, startHub: () => Promise<void>) {
  const streams = new SseLimits();
  return async (req: Request, res: Response): Promise<void> => {
    const studyId = String(req.params.id);
    if (!STUDY_ID.test(studyId))
      throw new HttpError(
        400,
        `invalid study id ${JSON.stringify(studyId.slice(0, 40))}`,
        'e.g. st-1a2b3c4d5e',
      );
    const client = req.socket.remoteAddress ?? 'unknown';
    const refused = streams.open(client);
    if (refused)
      throw new HttpError(429, refused, 'close other dashboard tabs, or wait for them to disconnect');
    req.on('close', () => streams.close(client));
    await startHub();
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    let blocked = false;
    let missed = false;
    const write = (event: FeedEvent): void => {
      blocked = !res.write(`event: ${event.kind}\ndata: ${event.json}\n\n`);
    };
    const send = (event: FeedEvent): void => {
      if (blocked) missed = true;
      else write(event);
    };
    res.on('drain', () => {
      blocked = false;
      const latest = missed ? hub.latest(studyId) : null;
      missed = false;
      if (latest) write(latest);
    });
    const unsubscribe = hub.subscribe(studyId, send);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    req.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
  };
}

/** Live-update streams per client address and in total: each holds a socket and a feed. */
class SseLimits {
  private readonly perClient = new Map<string, number>();
  private total = 0;
  constructor(
    private readonly maxPerClient = 16,
    private readonly maxTotal = 256,
  ) {}
  /** Null when the stream may open (and is counted), else why not. */
  open(client: string): string | null {
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.maxPerClient) return `at most ${this.maxPerClient} live-update streams per client`;
    if (this.total >= this.maxTotal)
      return `the server has ${this.maxTotal} live-update streams open already`;
    this.perClient.set(client, mine + 1);
    this.total += 1;
    return null;
  }
  close(client: string): void {
    const mine = (this.perClient.get(client) ?? 1) - 1;
    if (mine <= 0) this.perClient.delete(client);
    else this.perClient.set(client, mine);
    this.total = Math.max(0, this.total - 1);
  }
}
