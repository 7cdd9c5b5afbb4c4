import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import express from 'express';
import { createApiRouter, defaultStudyFactory, openDatabase, type Database } from '@braintune/coordinator';
import { waitFor } from './harness.js';
import { startPrivatePostgres, type PrivatePostgres } from './services.js';

/** A pino logger whose lines land in `lines` (parsed). */
function capturingLogger(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(text) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const LOST = 'lost the connection to Postgres; retrying';
const RECOVERED = 'connection to Postgres recovered';

let postgres: PrivatePostgres | null = null;
let database: Database | null = null;
afterEach(async () => {
  // close() waits for checked-out clients, which a failing test may have leaked.
  const closing = database?.close().catch(() => undefined);
  await Promise.race([closing, new Promise((r) => setTimeout(r, 5000))]);
  database = null;
  postgres?.destroy();
  postgres = null;
}, 60_000);

describe('the Postgres pool of the coordinator and the dashboard (private server)', () => {
  it('logs a lost server once, retries, and logs its recovery once', async () => {
    postgres = await startPrivatePostgres();
    const { log, lines } = capturingLogger();
    const db = (database = openDatabase(postgres.adminUrl, { max: 4, logger: log }));
    // Sessions open in the pool (idle) when the server goes away.
    await Promise.all([1, 2, 3].map(() => db.db.execute(sql`SELECT pg_sleep(0.05)`)));

    postgres.stop('fast');
    await waitFor('the loss to be logged', async () => lines.some((l) => l.msg === LOST), 20_000, 50);
    // Queries meanwhile fail, and reporting their failures adds no line.
    for (let i = 0; i < 3; i++) {
      const err = await db.db.execute(sql`SELECT 1`).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).not.toBeNull();
      expect(db.monitor?.report(err)).toBe(true);
    }
    expect(db.monitor?.isLost).toBe(true);
    // HTTP clients get a 503 meanwhile, and the server log no line per request.
    const app = express().use(createApiRouter({ db: db.db, studies: defaultStudyFactory, logger: log }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const res = await fetch(`http://127.0.0.1:${port}/api/studies`);
    server.close();
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      error: 'unavailable',
      message: expect.stringMatching(/database is unreachable/),
    });
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);

    await postgres.start();
    await waitFor(
      'the recovery to be logged',
      async () => lines.some((l) => l.msg === RECOVERED),
      20_000,
      50,
    );
    expect(db.monitor?.isLost).toBe(false);
    expect((await db.db.execute<{ one: number }>(sql`SELECT 1 AS one`)).rows[0]?.one).toBe(1);
    expect(lines.filter((l) => l.msg === LOST)).toHaveLength(1);
    expect(lines.filter((l) => l.msg === RECOVERED)).toHaveLength(1);
    expect(lines.find((l) => l.msg === LOST)).toMatchObject({ level: 40, target: postgres.adminUrl });
  }, 120_000);

  it('transactions on sessions that are terminated under them never leak a pooled client', async () => {
    postgres = await startPrivatePostgres();
    const { log } = capturingLogger();
    const db = (database = openDatabase(postgres.adminUrl, { max: 4, logger: log }));
    const admin = new pg.Client({ connectionString: postgres.adminUrl });
    await admin.connect();
    let stop = false;
    let failures = 0;
    // Four loops of short transactions keep every pooled session busy or just released...
    const loops = [0, 1, 2, 3].map(async () => {
      while (!stop) {
        await db.db
          .transaction(async (tx) => {
            await tx.execute(sql`SELECT 1`);
          })
          .catch(() => failures++);
      }
    });
    // ...while their sessions are terminated again and again, hitting BEGIN, the body and COMMIT.
    for (let round = 0; round < 40; round++) {
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
      );
      await new Promise((r) => setTimeout(r, 20));
    }
    stop = true;
    // A leaked client exhausts the pool: the loops would then wait for a client forever.
    const settled = await Promise.race([
      Promise.all(loops).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 30_000)),
    ]);
    await admin.end();
    expect(settled).toBe(true);
    expect(failures).toBeGreaterThan(0);
    // Every client is back in the pool or destroyed: none is checked out and forgotten.
    expect(db.pool.totalCount).toBe(db.pool.idleCount);
    expect(db.pool.waitingCount).toBe(0);
    expect((await db.db.execute<{ one: number }>(sql`SELECT 1 AS one`)).rows[0]?.one).toBe(1);
  }, 120_000);
});
