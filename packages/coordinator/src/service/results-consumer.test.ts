import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RESULTS_GROUP,
  createLogger,
  publishWorkerEvent,
  resultsStreamKeys,
  type WorkerEvent,
} from '@braintune/protocol';
import { deleteKeysWithPrefix } from '../queue/connection.js';
import { ResultsStreamReader } from '../queue/results-stream.js';
import { FencedError } from './leadership.js';
import { ResultsConsumer } from './results-consumer.js';

process.env.LOG_LEVEL ??= 'silent';
const log = createLogger('results-consumer-test');
let redis: Redis;
let prefix: string;

beforeAll(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
});

afterAll(async () => {
  redis.disconnect();
});

function failedEvent(jobId: string): WorkerEvent {
  return {
    kind: 'failed',
    studyId: 'st-1',
    trialId: jobId.split(':').slice(0, 2).join(':'),
    rung: 0,
    jobId,
    workerId: 'w-1',
    at: Date.now(),
    error: 'boom',
  };
}

function startedEvent(jobId: string): WorkerEvent {
  return { ...failedEvent(jobId), kind: 'started', attempt: 1 } as WorkerEvent;
}

/**
 * A consumer whose recorder keeps what it was given (the recorder itself is tested in
 * results-intake.test.ts); `refuse` makes the recording of a job id fail with that error.
 */
function consumer(options: { maxAttempts?: number; refuse?: Map<string, () => Error> } = {}) {
  const recorded: WorkerEvent[] = [];
  const c = new ResultsConsumer({
    reader: new ResultsStreamReader(redis, prefix),
    record: async (events) => {
      for (const e of events) {
        const refusal = options.refuse?.get(e.jobId);
        if (refusal) throw refusal();
      }
      recorded.push(...events);
    },
    log,
    monitor: null,
    concurrency: 16,
    blockMs: 200,
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  });
  return { c, recorded };
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const lane = (name: 'closing' | 'progress') => resultsStreamKeys.lane(prefix, name);
const pendingCount = async (name: 'closing' | 'progress') =>
  ((await redis.xpending(lane(name), RESULTS_GROUP)) as [number, ...unknown[]])[0];

describe('ResultsConsumer (results streams, real Redis)', () => {
  beforeAll(() => {
    prefix = `bt-consumer-${randomBytes(3).toString('hex')}`;
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(redis, prefix);
  });

  it('reads events written before it started, records each lane, and deletes what it acknowledged', async () => {
    await publishWorkerEvent(redis, prefix, failedEvent('st-1:0:0'));
    await publishWorkerEvent(redis, prefix, startedEvent('st-1:1:0'));
    const { c, recorded } = consumer();
    await c.start();
    await until('both recorded', () => recorded.length === 2);
    expect(recorded.map((e) => e.kind).sort()).toEqual(['failed', 'started']);
    await until(
      'both deleted',
      async () => (await redis.xlen(lane('closing'))) + (await redis.xlen(lane('progress'))) === 0,
    );
    await c.close();
  });

  it('leaves an event it could not record unacknowledged; the next leader records it', async () => {
    const refuse = new Map([['st-1:2:0', () => new Error('Postgres is away')]]);
    const first = consumer({ refuse });
    await first.c.start();
    await publishWorkerEvent(redis, prefix, failedEvent('st-1:2:0'));
    await until('held by the first consumer', () => first.c.inHand === 1);
    expect(await pendingCount('closing')).toBe(1);
    // The first coordinator dies: nothing was acknowledged, so nothing is lost.
    await first.c.close();
    expect(await redis.xlen(lane('closing'))).toBe(1);

    const next = consumer();
    await next.c.start();
    await until('recorded by the next leader', () => next.recorded.length === 1);
    expect(next.recorded[0]).toMatchObject({ kind: 'failed', jobId: 'st-1:2:0' });
    await until('acknowledged', async () => (await redis.xlen(lane('closing'))) === 0);
    expect(await pendingCount('closing')).toBe(0);
    await next.c.close();
  });

  it('retries a failing event with back-off while others flow, then dead-letters it with the reason', async () => {
    const refuse = new Map([['st-1:3:0', () => new Error('constraint violated')]]);
    const { c, recorded } = consumer({ refuse, maxAttempts: 3 });
    await c.start();
    await publishWorkerEvent(redis, prefix, failedEvent('st-1:3:0'));
    await publishWorkerEvent(redis, prefix, failedEvent('st-1:4:0'));
    await until('the healthy event recorded', () => recorded.length === 1);
    expect(recorded[0]!.jobId).toBe('st-1:4:0');
    // 500 ms + 1 s of back-off, then the third failure gives up.
    await until('dead-lettered', async () => (await redis.xlen(resultsStreamKeys.deadLetters(prefix))) === 1);
    const [letter] = await redis.xrange(resultsStreamKeys.deadLetters(prefix), '-', '+');
    const fields = letter![1];
    const entry = Object.fromEntries(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : [])));
    expect(entry.reason).toBe('recording failed 3 times: constraint violated');
    expect(JSON.parse(entry.event!)).toMatchObject({ jobId: 'st-1:3:0' });
    expect(await redis.xlen(lane('closing'))).toBe(0);
    await c.close();
    await redis.del(resultsStreamKeys.deadLetters(prefix));
  });

  it('dead-letters an entry that is not a worker event, naming what is wrong', async () => {
    const { c, recorded } = consumer();
    await c.start();
    await redis.xadd(lane('closing'), '*', 'event', JSON.stringify({ kind: 'result', jobId: 'x' }));
    await redis.xadd(lane('progress'), '*', 'other', 'field');
    await until(
      'both dead-lettered',
      async () => (await redis.xlen(resultsStreamKeys.deadLetters(prefix))) === 2,
    );
    const reasons = (
      (await redis.xrange(resultsStreamKeys.deadLetters(prefix), '-', '+')) as [string, string[]][]
    ).map(([, f]) => f[f.indexOf('reason') + 1]);
    expect(reasons.sort()).toEqual([
      expect.stringMatching(/^malformed: no 'event' field/),
      expect.stringMatching(/^malformed: .*studyId/),
    ]);
    expect(recorded).toEqual([]);
    await c.close();
    await redis.del(resultsStreamKeys.deadLetters(prefix));
  });

  it('a fenced recording stays unacknowledged; paused it reads nothing, resumed it records it', async () => {
    const refuse = new Map([['st-1:5:0', () => new FencedError()]]);
    const { c, recorded } = consumer({ refuse });
    await c.start();
    await publishWorkerEvent(redis, prefix, failedEvent('st-1:5:0'));
    await until('refused and let go', async () => c.inHand === 0 && (await pendingCount('closing')) === 1);
    // Leadership lost: nothing is read while paused, not even what stayed unacknowledged.
    c.pause();
    refuse.clear();
    await new Promise((r) => setTimeout(r, 1500));
    expect(recorded).toEqual([]);
    c.resume();
    await until('recorded after resuming', () => recorded.length === 1);
    await until('acknowledged', async () => (await pendingCount('closing')) === 0);
    await c.close();
  });

  it('makes its group again when Redis lost every key, and goes on reading', async () => {
    const { c, recorded } = consumer();
    await c.start();
    await deleteKeysWithPrefix(redis, prefix);
    await publishWorkerEvent(redis, prefix, failedEvent('st-1:6:0'));
    await until('recorded after the loss', () => recorded.some((e) => e.jobId === 'st-1:6:0'));
    await c.close();
  });
});
