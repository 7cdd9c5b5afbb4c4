import { styleText } from 'node:util';

/**
 * Turns one pino JSON line into one short line for people:
 * `14:03:07 INFO  coordinator: rung finished trialId=3f2a… valMacroF1=0.912`.
 * Written here rather than with pino-pretty because it must be synchronous and go through the
 * swappable sink of logging.ts (the live status of `up --demo` prints log lines above itself),
 * and because it shows only the fields that matter, each cut short, on one line.
 */

const LEVELS: Record<number, { label: string; color: Parameters<typeof styleText>[0] }> = {
  10: { label: 'TRACE', color: 'gray' },
  20: { label: 'DEBUG', color: 'gray' },
  30: { label: 'INFO ', color: 'green' },
  40: { label: 'WARN ', color: 'yellow' },
  50: { label: 'ERROR', color: 'red' },
  60: { label: 'FATAL', color: 'red' },
};

/** Fields every line has (shown elsewhere or not at all). */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'v']);
const MAX_VALUE = 32;
const MAX_FIELDS = 6;

function short(value: unknown): string {
  let text: string;
  if (typeof value === 'number')
    text = Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  else if (typeof value === 'string') text = /[\s=]/.test(value) ? JSON.stringify(value) : value;
  else text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

function errorText(err: unknown): string {
  if (typeof err === 'string') return err;
  const e = err as { message?: unknown; type?: unknown } | null;
  return typeof e?.message === 'string' ? e.message : short(err);
}

export function formatLogLine(json: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now()).toTimeString().slice(0, 8);
  const level = LEVELS[Number(entry.level)] ?? { label: String(entry.level), color: 'white' };
  const component = typeof entry.component === 'string' ? `${entry.component}: ` : '';
  const fields: string[] = [];
  let error = '';
  for (const [key, value] of Object.entries(entry)) {
    if (HIDDEN.has(key) || value === undefined || value === null) continue;
    if (key === 'err' || key === 'error') error = errorText(value);
    else if (fields.length < MAX_FIELDS) fields.push(`${key}=${short(value)}`);
  }
  const paint = (style: Parameters<typeof styleText>[0], text: string): string =>
    color ? styleText(style, text) : text;
  return [
    paint('gray', time),
    paint(level.color, level.label),
    `${component}${String(entry.msg ?? '')}`,
    ...(error ? [paint('red', `(${error})`)] : []),
    ...(fields.length ? [paint('gray', fields.join(' '))] : []),
  ].join(' ');
}
