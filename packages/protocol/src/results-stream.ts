import { WorkerEventSchema, type WorkerEvent } from './events.js';

/**
 * Worker events travel to the coordinator on two Redis streams (XADD by workers, one consumer
 * group read by the leading coordinator): a stream is one command per event to write and one
 * to read a whole batch, where a queue job costs three scripts per event. Rung outcomes have a
 * lane of their own so a backlog of progress reports never delays a promotion.
 */
export const RESULTS_LANES = ['closing', 'progress'] as const;
export type ResultsLane = (typeof RESULTS_LANES)[number];

/** The consumer group (and its one consumer) of the results streams: only the leader reads. */
export const RESULTS_GROUP = 'coordinator';

/** The field of a stream entry that holds the event's JSON. */
export const RESULTS_EVENT_FIELD = 'event';

export const resultsStreamKeys = {
  lane: (prefix: string, lane: ResultsLane) => `${prefix}:braintune-results:${lane}`,
  /** Events the coordinator gave up recording, with the error (kept for people to look at). */
  deadLetters: (prefix: string) => `${prefix}:braintune-results:dead`,
};

export function resultsLaneOf(event: WorkerEvent): ResultsLane {
  return event.kind === 'result' || event.kind === 'failed' ? 'closing' : 'progress';
}

/** What the backlog count needs of an ioredis client (structural: no ioredis here). */
export interface StreamCounter {
  xlen(key: string): Promise<number>;
}

/** Events on each lane the coordinator has not recorded yet, and those it gave up on. */
export async function resultsBacklog(
  redis: StreamCounter,
  prefix: string,
): Promise<Record<ResultsLane | 'dead', number>> {
  const [closing, progress, dead] = await Promise.all([
    redis.xlen(resultsStreamKeys.lane(prefix, 'closing')),
    redis.xlen(resultsStreamKeys.lane(prefix, 'progress')),
    redis.xlen(resultsStreamKeys.deadLetters(prefix)),
  ]);
  return { closing, progress, dead };
}

/** What a results-stream producer needs of an ioredis client (structural: no ioredis here). */
export interface StreamAppender {
  xadd(key: string, id: '*', field: string, value: string): Promise<string | null>;
}

/**
 * Appends a validated event to its lane. Re-sending an event is harmless: the coordinator's
 * recording is idempotent, keyed by the trial job id (and epoch or attempt).
 */
export async function publishWorkerEvent(
  redis: StreamAppender,
  prefix: string,
  event: WorkerEvent,
): Promise<void> {
  const valid = WorkerEventSchema.parse(event);
  await redis.xadd(
    resultsStreamKeys.lane(prefix, resultsLaneOf(valid)),
    '*',
    RESULTS_EVENT_FIELD,
    JSON.stringify(valid),
  );
}

/** The raw JSON of a stream entry's event field (fields are name, value, name, value, …). */
export function eventFieldOf(fields: readonly string[]): string | undefined {
  const at = fields.indexOf(RESULTS_EVENT_FIELD);
  return at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
}

/** The event of a stream entry's fields, or why it is not one. */
export function decodeWorkerEvent(
  fields: readonly string[],
): { ok: true; event: WorkerEvent } | { ok: false; problem: string } {
  const raw = eventFieldOf(fields);
  if (raw === undefined) return { ok: false, problem: `no '${RESULTS_EVENT_FIELD}' field` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const parsed = WorkerEventSchema.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      problem: parsed.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; '),
    };
  return { ok: true, event: parsed.data };
}
