export { type ArtifactStore, assertValidKey } from './store.js';
export { FilesystemArtifactStore } from './filesystem.js';
export { S3ArtifactStore, MARKER_NAME, type S3ArtifactStoreOptions } from './s3.js';
export {
  S3EnvSchema,
  createS3Client,
  defaultCacheDir,
  parseS3Url,
  readS3Env,
  type S3Env,
  type S3Location,
} from './s3-config.js';
export { openArtifactStore } from './open.js';
