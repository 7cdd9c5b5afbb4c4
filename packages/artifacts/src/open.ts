import { FilesystemArtifactStore } from './filesystem.js';
import { S3ArtifactStore } from './s3.js';
import { createS3Client, defaultCacheDir, parseS3Url, readS3Env } from './s3-config.js';
import type { ArtifactStore } from './store.js';

/**
 * Opens the store named by ARTIFACT_ROOT: a path or file:// URL for a filesystem root, or
 * `s3://bucket/prefix` for S3-compatible object storage (endpoint, region and credentials from
 * S3_ENDPOINT / AWS_* in `env`; downloads cached under ARTIFACT_CACHE_DIR).
 */
export function openArtifactStore(location: string, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  if (location.startsWith('s3://')) {
    const s3Location = parseS3Url(location);
    const s3Env = readS3Env(env);
    return new S3ArtifactStore({
      client: createS3Client(s3Env),
      ...s3Location,
      cacheDir: defaultCacheDir(s3Location, s3Env),
    });
  }
  if (location.startsWith('file://')) return new FilesystemArtifactStore(new URL(location).pathname);
  return new FilesystemArtifactStore(location);
}
