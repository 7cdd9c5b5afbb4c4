import type { ArtifactStore } from '@braintune/artifacts';
import type { Logger } from '@braintune/protocol';

/**
 * Deletes trial checkpoints that a recorded result superseded. Every attempt at a rung trains
 * into a directory of its own and the winning one becomes the trial's checkpoint; the one it
 * replaces (the previous rung's) is read by nothing after that commit — the next rung resumes
 * from the new one, and the registry copies the current one when it promotes. So are the
 * directories of the rung's earlier attempts that the winning result names (a crashed or
 * stalled attempt it could resume from). Without this a study keeps every rung's weights of
 * every trial.
 *
 * Removal runs after the commit, one key at a time, off the results path; a failure is logged
 * and the key left behind (disk space, not correctness). Only keys under `checkpoints/` are
 * touched, whatever a row says.
 */
export class CheckpointJanitor {
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly store: Pick<ArtifactStore, 'remove'>,
    private readonly log: Logger,
  ) {}

  discard(keys: readonly string[]): void {
    for (const key of keys) {
      if (!key.startsWith('checkpoints/')) continue;
      this.pending++;
      this.queue = this.queue
        .then(() => this.store.remove(key))
        .catch((err: unknown) => this.log.warn({ err, key }, 'could not delete a superseded checkpoint'))
        .finally(() => this.pending--);
    }
  }

  /** Resolves once every deletion asked for so far has ended (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.pending > 0) await this.queue;
  }
}
