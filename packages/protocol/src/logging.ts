import { pino, type Logger } from 'pino';
import { maskSecrets } from './secrets.js';

export type { Logger };

/**
 * One JSON logger per process component. LOG_LEVEL sets the level (default info;
 * "silent" in tests keeps their output readable). Passwords of connection strings are masked.
 */
export function createLogger(component: string): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      base: { component, pid: process.pid },
      // Every line, whatever logged it (an error's message, a URL in a field): no passwords.
      hooks: { streamWrite: maskSecrets },
    },
    pino.destination(2),
  );
}
