import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One JSON logger per process component. LOG_LEVEL sets the level (default info;
 * "silent" in tests keeps their output readable).
 */
export function createLogger(component: string): Logger {
  return pino(
    { level: process.env.LOG_LEVEL ?? 'info', base: { component, pid: process.pid } },
    pino.destination(2),
  );
}
