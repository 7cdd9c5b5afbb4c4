import type { StudySummaryBody } from './api.js';

const TERMINAL = new Set(['completed', 'cancelled', 'failed']);
export const isTerminal = (s: StudySummaryBody): boolean => TERMINAL.has(s.state);

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const metric = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x.toFixed(3));

/** One compact line, e.g. `running | rungs 9/23 | trials 12 (2 running) | 20 epochs | best F1 0.912 acc 0.915 | 1m23s`. */
export function progressLine(s: StudySummaryBody, elapsedSeconds: number): string {
  return [
    s.state,
    `rungs ${s.rungs.completed}/${s.rungs.planned}`,
    `trials ${s.trials.total} (${s.trials.running} running)`,
    `${s.epochs} epochs`,
    `best F1 ${metric(s.best?.valMacroF1)} acc ${metric(s.best?.valAccuracy)}`,
    formatDuration(elapsedSeconds),
  ].join(' | ');
}

/** The searched hyperparameters of a trial (dotted names read nested fields), e.g. `learningRate 0.0031`. */
export function describeSearched(hyperparameters: Record<string, unknown>, names: readonly string[]): string {
  return names
    .map((name) => {
      let value: unknown = hyperparameters;
      for (const part of name.split('.'))
        value =
          typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
      const shown =
        typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(3)) : value;
      return `${name} ${String(shown)}`;
    })
    .join(', ');
}

/**
 * Writes progress to a terminal: one line rewritten in place on a TTY; otherwise a new line
 * only when something changed (so logs of scripted runs stay short).
 */
export class ProgressPrinter {
  private last = '';
  private open = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  update(s: StudySummaryBody, elapsedSeconds: number): void {
    const line = progressLine(s, elapsedSeconds);
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${line}`);
      this.open = true;
      return;
    }
    const key = line.slice(0, line.lastIndexOf(' | ')); // ignore the clock
    if (key !== this.last) this.out.write(`${line}\n`);
    this.last = key;
  }

  /** Ends the in-place line so the next output starts on its own line. */
  done(): void {
    if (this.open) this.out.write('\n');
    this.open = false;
  }
}
