import type { ArtifactStore } from '@braintune/artifacts';

/** The two model-core checkpoint functions this needs (model-core is loaded lazily by the trainer). */
export interface CheckpointCopier {
  readCheckpointState(dir: string): Promise<{ epoch: number } | null>;
  copyCheckpoint(fromDir: string, toDir: string): Promise<{ epoch: number } | null>;
}

export interface AttemptSeed {
  /** Artifact key the attempt starts from. */
  source: string;
  /** Epochs that snapshot had trained. */
  epoch: number;
}

/**
 * Starts an attempt's own checkpoint directory from the most advanced usable snapshot among
 * `sources` (a previous attempt of the same rung, then the trial's committed checkpoint): a
 * snapshot is usable when it lies within the rung, fromEpoch ≤ epoch ≤ toEpoch. Sources are
 * only read, so an attempt that stalled and still writes its own directory cannot corrupt this
 * one. Returns null when none is usable (a fresh trial; training then checks fromEpoch itself).
 */
export async function seedAttemptCheckpoint(
  store: ArtifactStore,
  copier: CheckpointCopier,
  attemptKey: string,
  sources: readonly string[],
  rung: { fromEpoch: number; toEpoch: number },
): Promise<AttemptSeed | null> {
  let best: AttemptSeed | null = null;
  for (const source of new Set(sources)) {
    if (source === attemptKey || !(await store.pull(source))) continue;
    // An unreadable snapshot (a writer died mid-way through its first one) is skipped, not fatal.
    const state = await copier.readCheckpointState(store.localDir(source)).catch(() => null);
    if (state === null || state.epoch < rung.fromEpoch || state.epoch > rung.toEpoch) continue;
    if (best === null || state.epoch > best.epoch) best = { source, epoch: state.epoch };
  }
  if (best === null) return null;
  const copied = await copier.copyCheckpoint(store.localDir(best.source), store.localDir(attemptKey));
  if (copied === null) return null;
  await store.push(attemptKey);
  return { source: best.source, epoch: copied.epoch };
}
