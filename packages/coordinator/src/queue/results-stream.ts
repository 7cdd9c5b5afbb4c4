import type { Redis } from 'ioredis';
import {
  RESULTS_EVENT_FIELD,
  RESULTS_GROUP,
  RESULTS_LANES,
  eventFieldOf,
  resultsStreamKeys,
  type ResultsLane,
} from '@braintune/protocol';

/** One entry read from a results stream; `fields` is null for an entry deleted while pending. */
export interface ResultsEntry {
  lane: ResultsLane;
  id: string;
  fields: string[] | null;
}

type ReadReply = [key: string, entries: [id: string, fields: string[] | null][]][] | null;

/** The group's one consumer: a new leader takes over what the last one held but never acknowledged. */
const CONSUMER = 'leader';

/**
 * The coordinator's side of the results streams (see @braintune/protocol results-stream.ts).
 * Reads block on a connection of their own, so the shared one never waits behind them.
 */
export class ResultsStreamReader {
  private readonly blocking: Redis;
  private readonly keys: Record<ResultsLane, string>;
  /** Where reading this consumer's unacknowledged entries has got to, per lane. */
  private pendingFrom: Record<ResultsLane, string> = { closing: '0', progress: '0' };

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.blocking = redis.duplicate();
    this.blocking.on('error', () => undefined);
    this.keys = {
      closing: resultsStreamKeys.lane(prefix, 'closing'),
      progress: resultsStreamKeys.lane(prefix, 'progress'),
    };
  }

  /**
   * Creates the consumer group where it is missing (first start, or a Redis that lost its
   * keys). From id 0: events written before any coordinator ever ran are read too, and
   * nothing acknowledged stays in a stream, so 0 never means reading anything twice.
   */
  async ensureGroup(): Promise<void> {
    for (const lane of RESULTS_LANES) {
      try {
        await this.redis.xgroup('CREATE', this.keys[lane], RESULTS_GROUP, '0', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
      }
    }
  }

  /** Starts reading this consumer's unacknowledged entries from the beginning again. */
  rewind(): void {
    this.pendingFrom = { closing: '0', progress: '0' };
  }

  /**
   * The next page of entries delivered to this consumer but never acknowledged (a coordinator
   * that died or lost leadership mid-batch); empty once all have been read since `rewind`.
   */
  async readPending(count: number): Promise<ResultsEntry[]> {
    const entries = await this.read(count, [], [this.pendingFrom.closing, this.pendingFrom.progress]);
    for (const e of entries) this.pendingFrom[e.lane] = e.id;
    return entries;
  }

  /** New entries, closing lane first; waits up to `blockMs` when there are none. */
  readNew(count: number, blockMs: number): Promise<ResultsEntry[]> {
    return this.read(count, ['BLOCK', blockMs], ['>', '>']);
  }

  /** XREADGROUP of both lanes from the given ids ('>': never delivered; an id: this consumer's pending after it). */
  private async read(
    count: number,
    block: (string | number)[],
    from: [string, string],
  ): Promise<ResultsEntry[]> {
    const reply = (await this.blocking.call(
      'XREADGROUP',
      'GROUP',
      RESULTS_GROUP,
      CONSUMER,
      'COUNT',
      count,
      ...block,
      'STREAMS',
      this.keys.closing,
      this.keys.progress,
      ...from,
    )) as ReadReply;
    return this.entries(reply);
  }

  /** Acknowledges and deletes recorded entries in one round trip: a stream holds only what is still to record. */
  async ack(entries: readonly ResultsEntry[]): Promise<void> {
    const pipeline = this.redis.multi();
    for (const lane of RESULTS_LANES) {
      const ids = entries.filter((e) => e.lane === lane).map((e) => e.id);
      if (ids.length === 0) continue;
      pipeline.xack(this.keys[lane], RESULTS_GROUP, ...ids).xdel(this.keys[lane], ...ids);
    }
    await pipeline.exec();
  }

  /** Moves an entry that will never be recorded to the dead-letter stream, with the reason. */
  async deadLetter(entry: ResultsEntry, reason: string): Promise<void> {
    const raw = (entry.fields && eventFieldOf(entry.fields)) ?? '';
    await this.redis
      .multi()
      .xadd(
        resultsStreamKeys.deadLetters(this.prefix),
        '*',
        'lane',
        entry.lane,
        'id',
        entry.id,
        RESULTS_EVENT_FIELD,
        raw,
        'reason',
        reason,
      )
      .xack(this.keys[entry.lane], RESULTS_GROUP, entry.id)
      .xdel(this.keys[entry.lane], entry.id)
      .exec();
  }

  /** Ends a read in progress (it rejects) and the reading connection. */
  close(): void {
    this.blocking.disconnect();
  }

  private entries(reply: ReadReply): ResultsEntry[] {
    const out: ResultsEntry[] = [];
    for (const [key, rows] of reply ?? []) {
      const lane: ResultsLane = key === this.keys.closing ? 'closing' : 'progress';
      for (const [id, fields] of rows) out.push({ lane, id, fields });
    }
    return out;
  }
}
