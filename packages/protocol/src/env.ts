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
