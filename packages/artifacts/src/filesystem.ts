import { access, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertValidKey, type ArtifactStore } from './store.js';

/** A directory tree shared by every process (local disk, a Docker volume or NFS). */
export class FilesystemArtifactStore implements ArtifactStore {
  readonly root: string;
  readonly location: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = pathToFileURL(this.root).href;
  }

  localDir(key: string): string {
    assertValidKey(key);
    return path.join(this.root, key);
  }

  async pull(key: string): Promise<boolean> {
    return this.exists(key);
  }

  async push(key: string): Promise<void> {
    assertValidKey(key);
  }

  async exists(key: string): Promise<boolean> {
    const dir = this.localDir(key); // outside the try: an invalid key is an error, not "absent"
    try {
      await access(dir);
      return true;
    } catch {
      return false;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.localDir(key), { recursive: true, force: true });
  }
}
