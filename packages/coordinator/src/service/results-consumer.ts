import { decodeWorkerEvent, type Logger, type WorkerEvent } from '@braintune/protocol';
import type { ConnectionMonitor } from '../db/connection-monitor.js';
import { logFailure } from '../db/connection-monitor.js';
import type { ResultsEntry, ResultsStreamReader } from '../queue/results-stream.js';
import { FencedError } from './leadership.js';

export interface ResultsConsumerDeps {
  reader: ResultsStreamReader;
  /** Records events; resolves once they are committed (ResultsIntake.record). */
  record: (events: WorkerEvent[]) => Promise<void>;
  log: Logger;
  monitor: ConnectionMonitor | null;
  /** Events held at once (read, not yet committed): bounds what one transaction can gather. */
  concurrency: number;
  /** How long a read waits for new events before it looks at pause and close again (ms). */
  blockMs?: number;
  /** Recording attempts of one event before it is moved to the dead-letter stream. */
  maxAttempts?: number;
}

interface Held {
  entry: ResultsEntry;
  event: WorkerEvent;
  attempts: number;
  retry: NodeJS.Timeout | null;
}

/** Retries of a failed recording: 250 ms doubling to 30 s, about eight hours over 1,000 attempts. */
function backoffMs(attempts: number): number {
  return Math.min(30_000, 250 * 2 ** attempts);
}

/**
 * Reads worker events off the results streams and hands them to the recorder, keeping at most
 * `concurrency` in hand. An entry is acknowledged (and deleted) only after its transaction
 * committed, so a crash loses nothing: the next leader reads the entries this consumer never
 * acknowledged first (`readPending`), and recording is idempotent, so a second recording
 * changes nothing. A failed recording is retried with back-off while other events flow on;
 * an event that is not one, or that fails every attempt, goes to the dead-letter stream.
 */
export class ResultsConsumer {
  private readonly held = new Map<string, Held>();
  private readonly toAck: ResultsEntry[] = [];
  private readonly blockMs: number;
  private readonly maxAttempts: number;
  private loop: Promise<void> | null = null;
  private closed = false;
  private paused = false;
  /** Next read goes through this consumer's unacknowledged entries first. */
  private rewinding = true;
  private wake: (() => void) | null = null;
  private readFailures = 0;
  private rewindTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: ResultsConsumerDeps) {
    this.blockMs = deps.blockMs ?? 2000;
    this.maxAttempts = deps.maxAttempts ?? 1000;
  }

  get consuming(): boolean {
    return this.loop !== null;
  }

  /** Events read and not yet committed (metrics and tests). */
  get inHand(): number {
    return this.held.size;
  }

  /** Makes sure the consumer group exists (a Redis it cannot reach fails the start), then reads. */
  async start(): Promise<void> {
    await this.deps.reader.ensureGroup();
    this.loop ??= this.run();
  }

  /** Stops reading (another coordinator leads); what is in hand fails fenced and stays unacknowledged. */
  pause(): void {
    this.paused = true;
  }

  /** Reads again, starting with what stayed unacknowledged. */
  resume(): void {
    this.paused = false;
    this.rewinding = true;
    this.deps.reader.rewind();
    this.notify();
  }

  /** Ends the read in progress and waits for the recordings in flight (not for back-offs). */
  async close(): Promise<void> {
    this.closed = true;
    this.deps.reader.close();
    this.notify();
    await this.loop;
    if (this.rewindTimer) clearTimeout(this.rewindTimer);
    for (const h of this.held.values()) if (h.retry) clearTimeout(h.retry);
    while ([...this.held.values()].some((h) => h.retry === null)) await this.idle();
    await this.flushAcks();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const room = this.deps.concurrency - this.held.size;
      if (this.paused || room <= 0) {
        await this.idle();
        continue;
      }
      let entries: ResultsEntry[];
      try {
        if (this.readFailures > 0) await this.deps.reader.ensureGroup();
        entries = this.rewinding
          ? await this.deps.reader.readPending(room)
          : await this.deps.reader.readNew(room, this.blockMs);
        if (this.rewinding && entries.length === 0) this.rewinding = false;
        this.readFailures = 0;
      } catch (err) {
        if (this.closed) break;
        // Redis away (ioredis reconnects) or its keys lost (NOGROUP: the group is made again).
        if (this.readFailures++ === 0)
          this.deps.log.warn({ err: (err as Error).message }, 'reading worker events failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** this.readFailures)));
        continue;
      }
      for (const entry of entries) this.take(entry);
    }
  }

  private take(entry: ResultsEntry): void {
    const key = `${entry.lane}/${entry.id}`;
    if (this.held.has(key)) return; // read again by a rewind while still in hand
    if (entry.fields === null) {
      this.ackLater(entry); // deleted while pending: nothing to record
      return;
    }
    const decoded = decodeWorkerEvent(entry.fields);
    if (!decoded.ok) {
      this.deps.log.error({ entryId: entry.id, problem: decoded.problem }, 'dropping malformed worker event');
      void this.giveUp(entry, `malformed: ${decoded.problem}`);
      return;
    }
    const held: Held = { entry, event: decoded.event, attempts: 0, retry: null };
    this.held.set(key, held);
    this.attempt(key, held);
  }

  private attempt(key: string, held: Held): void {
    held.retry = null;
    this.deps.record([held.event]).then(
      () => {
        this.held.delete(key);
        this.ackLater(held.entry);
        this.notify();
      },
      (err: unknown) => this.failed(key, held, err),
    );
  }

  private failed(key: string, held: Held, err: unknown): void {
    if (err instanceof FencedError || this.closed) {
      // Left unacknowledged: whoever leads reads it again (this coordinator too, once it leads).
      this.held.delete(key);
      if (!this.closed) this.rewindSoon();
      this.notify();
      return;
    }
    held.attempts++;
    logFailure(this.deps.monitor, this.deps.log, err, 'recording a worker event failed; will retry', 'warn', {
      entryId: held.entry.id,
      kind: held.event.kind,
      jobId: held.event.jobId,
      attempts: held.attempts,
    });
    if (held.attempts >= this.maxAttempts) {
      this.held.delete(key);
      void this.giveUp(held.entry, `recording failed ${held.attempts} times: ${(err as Error).message}`);
      this.notify();
      return;
    }
    held.retry = setTimeout(() => this.attempt(key, held), backoffMs(held.attempts));
  }

  /**
   * A fenced write normally comes with losing leadership (pause, then resume rewinds); should
   * this coordinator still lead, what it left unacknowledged is read again a second later.
   */
  private rewindSoon(): void {
    if (this.rewindTimer) return;
    this.rewindTimer = setTimeout(() => {
      this.rewindTimer = null;
      this.rewinding = true;
      this.deps.reader.rewind();
      this.notify();
    }, 1000);
    this.rewindTimer.unref();
  }

  private async giveUp(entry: ResultsEntry, reason: string): Promise<void> {
    await this.deps.reader
      .deadLetter(entry, reason)
      .catch((err: unknown) =>
        this.deps.log.warn(
          { err: (err as Error).message, entryId: entry.id },
          'dead-lettering a worker event failed',
        ),
      );
  }

  /** Acknowledgements of one commit go to Redis together, after the callbacks of that commit ran. */
  private ackLater(entry: ResultsEntry): void {
    this.toAck.push(entry);
    if (this.toAck.length === 1) setImmediate(() => void this.flushAcks());
  }

  private async flushAcks(): Promise<void> {
    const entries = this.toAck.splice(0);
    if (entries.length === 0) return;
    await this.deps.reader.ack(entries).catch((err: unknown) => {
      // Recorded but still unacknowledged: read again (and recorded as a no-op) on the next pass.
      this.deps.log.warn(
        { err: (err as Error).message, entries: entries.length },
        'acknowledging worker events failed',
      );
      this.rewinding = true;
      this.deps.reader.rewind();
    });
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
