import { randomBytes } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@braintune/protocol';
import { migrateDatabase, openDatabase, type Tx } from '../db/client.js';
import { Coordinator } from './coordinator.js';
import { FencedError, Leadership } from './leadership.js';
import { defaultStudyFactory } from './study-factory.js';

process.env.LOG_LEVEL ??= 'silent';
const ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `bt_leader_${randomBytes(3).toString('hex')}`;
const databaseUrl = ADMIN.replace(/\/postgres$/, `/${dbName}`);
const prefix = `bt-leader-${randomBytes(3).toString('hex')}`;

const start = () =>
  Coordinator.start({
    databaseUrl,
    redisUrl: 'redis://127.0.0.1:6379',
    prefix,
    artifactRoot: path.join(tmpdir(), `${prefix}-artifacts`),
    studies: defaultStudyFactory,
    migrate: false,
  });

/**
 * A TCP proxy to the shared Postgres that can go half-open: `freeze()` drops every byte in
 * both directions and hides closes from the other side, like a partition; new connections are
 * refused meanwhile.
 */
async function partitionableProxy(): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (frozen) return client.destroy();
    const upstream = connect(5432, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('data', (d: Buffer) => !frozen && to.write(d));
      from.on('close', () => !frozen && to.destroy());
      from.on('error', () => undefined);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    freeze: () => (frozen = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

async function until(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('coordinator leadership', () => {
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName}_halfopen WITH (FORCE)`);
    await admin.end();
  });

  it('lets one coordinator act per database; a second stands by and takes over when the first stops', async () => {
    await migrateDatabase(databaseUrl);
    const first = await start();
    let secondStarted = false;
    const second = start().then((c) => {
      secondStarted = true;
      return c;
    });
    await new Promise((r) => setTimeout(r, 3000));
    expect(secondStarted).toBe(false);
    await first.stop();
    const c2 = await second;
    expect(secondStarted).toBe(true);
    await c2.stop();
  }, 30_000);

  it('two coordinators started at the same moment: exactly one leads', async () => {
    await migrateDatabase(databaseUrl);
    const started: Coordinator[] = [];
    const both = [start(), start()].map((p) => p.then((c) => started.push(c)));
    await new Promise((r) => setTimeout(r, 3000));
    expect(started).toHaveLength(1);
    await started[0]!.stop();
    await Promise.all(both);
    expect(started).toHaveLength(2);
    await started[1]!.stop();
  }, 30_000);

  it('fences writes: once the lock session is gone, fence() refuses inside the transaction', async () => {
    await migrateDatabase(databaseUrl);
    // The lock session goes through a proxy that can refuse new connections: once its backend
    // is killed, this process (retrying) cannot lead again while the fence is checked.
    const proxy = await partitionableProxy();
    const changes: boolean[] = [];
    const leadership = new Leadership(
      databaseUrl.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
      createLogger('test'),
      (l) => changes.push(l),
      200,
      500,
    );
    await leadership.acquire();
    const database = openDatabase(databaseUrl, { max: 1 });
    const admin = new pg.Client({ connectionString: databaseUrl });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      // The fence in a query of its own, and as a condition a transaction's first query selects.
      const fencedInFirstQuery = (tx: Tx) =>
        tx
          .execute<{ leading: boolean }>(sql`SELECT ${leadership.fenceCondition()} AS leading`)
          .then((r) => leadership.confirmFence(r.rows[0]!.leading));
      await database.db.transaction((tx) => leadership.fence(tx));
      await database.db.transaction(fencedInFirstQuery);
      // Another session can see who holds the lock; kill exactly that backend, and wait until
      // it is gone (termination is asynchronous).
      const held = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 7243912 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      expect(held.rows).toHaveLength(1);
      proxy.freeze();
      const killed = await admin.query<{ gone: boolean }>('SELECT pg_terminate_backend($1, 10000) AS gone', [
        held.rows[0]!.pid,
      ]);
      expect(killed.rows[0]!.gone).toBe(true);
      await expect(database.db.transaction(fencedInFirstQuery)).rejects.toBeInstanceOf(FencedError);
      await expect(database.db.transaction((tx) => leadership.fence(tx))).rejects.toBeInstanceOf(FencedError);
      expect(changes).toContain(false);
    } finally {
      await admin.end();
      await leadership.release();
      await database.close();
      await proxy.close();
    }
  }, 30_000);

  it('a half-open lock session: the leader steps down, and the server ends the session so a standby leads', async () => {
    // Its own database: a Leadership of an earlier test still retrying must not take the lock.
    const databaseUrl = ADMIN.replace(/\/postgres$/, `/${dbName}_halfopen`);
    await migrateDatabase(databaseUrl);
    const proxy = await partitionableProxy();
    const changes: boolean[] = [];
    const log = createLogger('test');
    const leader = new Leadership(
      databaseUrl.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
      log,
      (l) => changes.push(l),
      200,
      500,
    );
    await leader.acquire();
    const standby = new Leadership(databaseUrl, log, () => undefined, 200, 500);
    const standing = standby.acquire();
    await new Promise((r) => setTimeout(r, 1000));
    expect(standby.isLeader).toBe(false);

    proxy.freeze();
    // This side: the liveness query goes unanswered, the leader steps down and is fenced.
    await until('the leader to step down', () => changes.includes(false), 10_000);
    const database = openDatabase(databaseUrl, { max: 1 });
    await expect(database.db.transaction((tx) => leader.fence(tx))).rejects.toBeInstanceOf(FencedError);
    // The server's side: its session still holds the lock until idle_session_timeout ends it.
    await standing;
    expect(standby.isLeader).toBe(true);
    await database.db.transaction((tx) => standby.fence(tx));
    await leader.release();
    await standby.release();
    await database.close();
    await proxy.close();
  }, 90_000);
});
