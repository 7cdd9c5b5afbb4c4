import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate` (from packages/coordinator) writes SQL migrations into ./drizzle;
// `braintune migrate` and the coordinator's start-up apply them with drizzle's migrator.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/braintune' },
});
