import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../db/client.js';
import { Coordinator } from './coordinator.js';
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

describe('coordinator leadership', () => {
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
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
});
