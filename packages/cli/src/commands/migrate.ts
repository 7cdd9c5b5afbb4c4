import type { Command } from 'commander';
import { clusterSettings } from '../api-client.js';
import { requireServices } from '../preflight.js';

/** `braintune migrate`: creates the database if needed and applies pending migrations. */
export function register(program: Command): void {
  program
    .command('migrate')
    .description('create the Postgres database (DATABASE_URL) if needed and apply pending migrations')
    .action(async () => {
      const { databaseUrl } = clusterSettings();
      await requireServices({ databaseUrl });
      // Loaded after the check, which must answer fast (the coordinator package is large).
      const { migrateDatabase } = await import('@braintune/coordinator');
      await migrateDatabase(databaseUrl);
      const where = new URL(databaseUrl);
      console.log(`database ${where.pathname.slice(1)} on ${where.host} is up to date`);
    });
}
