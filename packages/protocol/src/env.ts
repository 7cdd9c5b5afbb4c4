import path from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from './errors.js';

/** Settings every braintune process reads from its environment, validated once. */
export const EnvSchema = z.object({
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/braintune'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  ARTIFACT_ROOT: z.string().min(1).default('./.braintune/artifacts'),
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  BRAINTUNE_URL: z.string().url().optional(),
  BRAINTUNE_API_TOKEN: z.string().min(1).optional(),
  /** Key prefix of every BullMQ queue and braintune Redis key (tests isolate with their own). */
  BRAINTUNE_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('bull'),
  BRAINTUNE_BACKEND: z.enum(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).optional(),
  /** Directories data sets may be read from, separated by the path delimiter (':' on Linux). */
  BRAINTUNE_DATA_ROOTS: z.string().min(1).optional(),
  /** When set, every read (API, downloads, live updates, dashboard pages) needs this token. */
  BRAINTUNE_READ_TOKEN: z.string().min(1).optional(),
});
export type Env = z.infer<typeof EnvSchema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new InvalidInputError(`invalid environment: ${issues}`, 'fix or unset the variables named above');
  }
  return parsed.data;
}

/** The URL the CLI uses to reach the API. */
export function apiUrl(env: Env): string {
  return env.BRAINTUNE_URL ?? `http://localhost:${env.PORT}`;
}

/** Where `braintune up --demo` writes its phantoms: next to the artifact root, in `demo/`. */
export function demoDataRoot(artifactRoot: string, cwd = process.cwd()): string {
  return path.resolve(cwd, artifactRoot, '..', 'demo');
}

/**
 * The data roots as configured (relative entries stay relative, so messages never show the
 * host's layout): BRAINTUNE_DATA_ROOTS, else `./data` plus the demo's phantom folder.
 */
export function dataRootsOf(
  env: { BRAINTUNE_DATA_ROOTS?: string | undefined; ARTIFACT_ROOT?: string | undefined } = process.env,
): string[] {
  const list = env.BRAINTUNE_DATA_ROOTS?.split(path.delimiter).filter((r) => r.trim() !== '');
  if (list && list.length > 0) return list;
  const artifactRoot = env.ARTIFACT_ROOT || './.braintune/artifacts';
  // An object-store artifact root has no local demo folder next to it.
  const demo = /^[a-z][a-z0-9+.-]*:\/\//i.test(artifactRoot)
    ? []
    : [path.join(path.dirname(path.normalize(artifactRoot)), 'demo')];
  return ['./data', ...demo];
}
