import { FilesystemArtifactStore } from './filesystem.js';
import type { ArtifactStore } from './store.js';

/**
 * Opens the store named by ARTIFACT_ROOT: a path or file:// URL for a filesystem root.
 * (s3:// support is added by the S3 implementation.)
 */
export function openArtifactStore(location: string): ArtifactStore {
  if (location.startsWith('file://')) return new FilesystemArtifactStore(new URL(location).pathname);
  return new FilesystemArtifactStore(location);
}
