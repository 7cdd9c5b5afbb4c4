import cliProgress from 'cli-progress';

/**
 * A progress bar on stderr, so stdout keeps only results (the last stdout line of a command is
 * often one JSON object). The cursor stays visible in case the process is killed mid-bar.
 */
export function stderrProgressBar(format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { stream: process.stderr, hideCursor: false, format },
    cliProgress.Presets.shades_classic,
  );
}
