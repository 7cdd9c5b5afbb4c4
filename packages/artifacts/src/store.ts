/**
 * Where dataset bundles, checkpoints and registry versions live. Keys are relative,
 * slash-separated directory names such as `datasets/<sha256>` or
 * `checkpoints/<study>/<trial>`.
 *
 * Code that produces or consumes artifacts works on plain local directories:
 * `localDir(key)` names one, `pull(key)` makes it current before reading and
 * `push(key)` publishes it after writing. For a filesystem root (a shared volume or
 * NFS) the local directory *is* the store and pull/push do nothing; for object
 * storage the local directory is a cache.
 */
export interface ArtifactStore {
  /** Human-readable location, for logs (`file:///data/artifacts`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Local directory that holds (or will hold) the artifact `key`. */
  localDir(key: string): string;
  /** Makes localDir(key) current; returns false when the store has no such artifact. */
  pull(key: string): Promise<boolean>;
  /** Publishes localDir(key) to the store (complete files only; readers never see half a directory). */
  push(key: string): Promise<void>;
  /** Whether the store holds the artifact. */
  exists(key: string): Promise<boolean>;
  /** Removes the artifact from the store and the local cache. */
  remove(key: string): Promise<void>;
}

/** Rejects keys that could escape the store root. */
export function assertValidKey(key: string): void {
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) ||
    key.split('/').some((p) => p === '..' || p === '.')
  ) {
    throw new Error(
      `invalid artifact key "${key}": use slash-separated names of letters, digits, '.', '_' and '-'`,
    );
  }
}
