export { type ArtifactStore, assertValidKey } from './store.js';
export { FilesystemArtifactStore } from './filesystem.js';
export { openArtifactStore } from './open.js';
