import { setLogSink, type Logger } from '@braintune/protocol';
import { LiveRegion } from './live-region.js';
import { boardLines, finishedRungLines, progressLine, varyingNames, type Snapshot } from './status-board.js';

const TERMINAL = new Set(['completed', 'cancelled', 'failed']);
export const isTerminalState = (state: string): boolean => TERMINAL.has(state);

export interface FollowOptions {
  /** Reads the study, its trials (best first) and the workers; throws when the API is not there. */
  snapshot(): Promise<Snapshot>;
  /** Names of the searched hyperparameters (default: those that differ between trials). */
  searched?: readonly string[];
  /** Where status lines go (default stdout). */
  out?: NodeJS.WriteStream;
  log: Logger;
  /** Seconds already elapsed when following starts (the demo counts from process start). */
  elapsed?: () => number;
  intervalMs?: number;
}

/**
 * Follows a study until it ends. On a terminal: a status block redrawn in place, one line per
 * finished rung above it, and this process's log lines routed above it too (so nothing tears
 * the block). Without a terminal: one line per finished rung and a progress line whenever it
 * changes. Resolves with the last snapshot.
 */
export async function followStudy(options: FollowOptions): Promise<Snapshot> {
  const region = new LiveRegion(options.out ?? process.stdout);
  const started = Date.now();
  const elapsed = options.elapsed ?? (() => (Date.now() - started) / 1000);
  if (region.interactive) setLogSink({ write: (text) => region.print(text) });
  let previous: Snapshot | null = null;
  let lastLine = '';
  try {
    for (;;) {
      let next: Snapshot | null = null;
      try {
        next = await options.snapshot();
      } catch (err) {
        options.log.warn({ err }, 'could not read the study status; retrying');
      }
      if (next) {
        const searched = options.searched ?? varyingNames(next.trials);
        for (const line of finishedRungLines(previous, next, searched)) region.print(line);
        if (region.interactive) region.render(boardLines(next, searched, elapsed()));
        else {
          const line = progressLine(next.summary, elapsed());
          const key = line.slice(0, line.lastIndexOf(' | ')); // ignore the clock
          if (key !== lastLine) region.print(line);
          lastLine = key;
        }
        previous = next;
        if (isTerminalState(next.summary.state)) return next;
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 1000));
    }
  } finally {
    region.close();
    setLogSink(null);
  }
}
