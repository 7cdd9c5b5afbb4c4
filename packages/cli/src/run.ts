import { BraintuneError } from '@braintune/protocol';
import { ZodError } from 'zod';

/** Prints a user-facing error (message + how to fix it) and sets a non-zero exit code. */
export function reportError(err: unknown): void {
  if (err instanceof BraintuneError) {
    console.error(`error: ${err.message}`);
    if (err.hint) console.error(`hint: ${err.hint}`);
  } else if (err instanceof ZodError) {
    for (const issue of err.issues)
      console.error(`error: ${issue.path.join('.') || '(input)'}: ${issue.message}`);
  } else if (err instanceof Error) {
    console.error(`error: ${err.message}`);
    if (process.env.BRAINTUNE_DEBUG) console.error(err.stack);
  } else {
    console.error('error:', err);
  }
  process.exitCode = 1;
}
