import { pino, type DestinationStream, type Logger } from 'pino';
import { z } from 'zod';
import { InvalidInputError } from './errors.js';
import { formatLogLine } from './log-format.js';
import { maskSecrets } from './secrets.js';

export type { Logger };
export { formatLogLine } from './log-format.js';

/** `json`: one JSON object a line (machines, files, CI); `pretty`: one short line for people. */
export const LogFormatSchema = z.enum(['json', 'pretty']);
export type LogFormat = z.infer<typeof LogFormatSchema>;

const LogEnvSchema = z.object({
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  LOG_FORMAT: LogFormatSchema.optional(),
});

function logEnv(): z.infer<typeof LogEnvSchema> {
  const parsed = LogEnvSchema.safeParse(process.env);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  throw new InvalidInputError(`invalid environment: ${issues}`, 'fix or unset LOG_LEVEL / LOG_FORMAT');
}

/** LOG_FORMAT (set by `--log-format` too) or, when unset, pretty on a terminal and JSON elsewhere. */
export function logFormat(): LogFormat {
  return logEnv().LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
}

/** Where pretty lines go; the live status of `up --demo` swaps it to print them above itself. */
export interface LogSink {
  write(text: string): void;
}
let sink: LogSink = process.stderr;

/** Routes pretty log lines to `next` (null: back to stderr). JSON lines always go to fd 2. */
export function setLogSink(next: LogSink | null): void {
  sink = next ?? process.stderr;
}

const prettyDestination: DestinationStream = {
  write(line: string) {
    sink.write(`${formatLogLine(line, process.stderr.isTTY === true && !process.env.NO_COLOR)}\n`);
  },
};

/**
 * One logger per process component. LOG_LEVEL sets the level (default info; "silent" in tests
 * keeps their output readable); the format follows logFormat(). Passwords of connection strings
 * are masked in every line, whatever logged them (an error's message, a URL in a field).
 */
export function createLogger(component: string): Logger {
  const env = logEnv();
  const destination = logFormat() === 'pretty' ? prettyDestination : pino.destination(2);
  return pino(
    { level: env.LOG_LEVEL, base: { component, pid: process.pid }, hooks: { streamWrite: maskSecrets } },
    destination,
  );
}
