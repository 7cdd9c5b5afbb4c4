import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPathError, resolveDataPath } from './data-path.js';
import { dataRootsOf } from './env.js';
import { InvalidInputError } from './errors.js';
import { publicMessage, publicPreparationError, redactAbsolutePaths } from './public-error.js';
import { maskSecrets } from './secrets.js';

describe('resolveDataPath', () => {
  let base: string;
  let root: string;
  const opts = () => ({ roots: [root] });

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'braintune-roots-'));
    root = path.join(base, 'root');
    for (const cls of ['a', 'b']) {
      await mkdir(path.join(root, 'set', cls), { recursive: true });
      await writeFile(path.join(root, 'set', cls, '1.png'), 'x'.repeat(10));
      await writeFile(path.join(root, 'set', cls, '2.png'), 'x'.repeat(10));
    }
    await mkdir(path.join(base, 'outside', 'a'), { recursive: true });
    await writeFile(path.join(base, 'outside', 'a', '1.png'), 'secret');
    // A data set whose class folder links out of the root.
    await mkdir(path.join(root, 'leaky'), { recursive: true });
    await symlink(path.join(base, 'outside', 'a'), path.join(root, 'leaky', 'a'));
    // A loop: a class folder holding a link to its parent.
    await mkdir(path.join(root, 'loop', 'a'), { recursive: true });
    await symlink('..', path.join(root, 'loop', 'a', 'up'));
    // A link inside the root to another data set inside it: allowed.
    await mkdir(path.join(root, 'linked'), { recursive: true });
    await symlink(path.join(root, 'set', 'a'), path.join(root, 'linked', 'a'));
    await symlink(path.join(base, 'outside'), path.join(root, 'door'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('resolves a data set inside a root and counts its files and bytes', async () => {
    const r = await resolveDataPath(path.join(root, 'set'), opts());
    expect(r).toMatchObject({ files: 4, bytes: 40, root });
    const viaLink = await resolveDataPath(path.join(root, 'linked'), opts());
    expect(viaLink.files).toBe(2);
    // Relative paths resolve against cwd.
    expect((await resolveDataPath('set', { roots: ['.'], cwd: root })).files).toBe(4);
  });

  it('refuses a path outside every root without saying whether it exists', async () => {
    const exists = await resolveDataPath(path.join(base, 'outside'), opts()).catch((e: unknown) => e);
    const missing = await resolveDataPath(path.join(base, 'nothing'), opts()).catch((e: unknown) => e);
    expect(exists).toBeInstanceOf(DataPathError);
    expect((exists as Error).message).toContain('outside the allowed data roots');
    expect((missing as Error).message.replace('nothing', 'outside')).toBe((exists as Error).message);
    await expect(resolveDataPath(`${root}/../outside`, opts())).rejects.toThrow(/outside the allowed/);
  });

  it('refuses symbolic links leaving the root, loops, and trees over the limits', async () => {
    await expect(resolveDataPath(path.join(root, 'door'), opts())).rejects.toThrow(/leaves its data root/);
    await expect(resolveDataPath(path.join(root, 'leaky'), opts())).rejects.toThrow(
      /symbolic link that leaves its data root/,
    );
    await expect(resolveDataPath(path.join(root, 'loop'), opts())).rejects.toThrow(
      /reaches one folder twice/,
    );
    await expect(
      resolveDataPath(path.join(root, 'set'), { ...opts(), limits: { maxFiles: 3 } }),
    ).rejects.toThrow(/more than 3 files/);
    await expect(
      resolveDataPath(path.join(root, 'set'), { ...opts(), limits: { maxBytes: 39 } }),
    ).rejects.toThrow(/more than 39 bytes/);
    await expect(resolveDataPath(path.join(root, 'set', 'a', '1.png'), opts())).rejects.toThrow(
      /not a directory/,
    );
    await expect(resolveDataPath(path.join(root, 'gone'), opts())).rejects.toThrow(/does not exist/);
  });

  it('names the roots as configured in the hint', async () => {
    const err = (await resolveDataPath('/etc', { roots: ['./data', 'demo'] }).catch(
      (e: unknown) => e,
    )) as DataPathError;
    expect(err.hint).toContain('./data, demo');
    expect(err.hint).toContain('BRAINTUNE_DATA_ROOTS');
  });
});

describe('data roots from the environment', () => {
  it('defaults to ./data and the demo folder next to the artifact root', () => {
    expect(dataRootsOf({})).toEqual(['./data', path.join('.braintune', 'demo')]);
    expect(dataRootsOf({ ARTIFACT_ROOT: 's3://bucket/x' })).toEqual(['./data']);
    expect(dataRootsOf({ BRAINTUNE_DATA_ROOTS: `/a${path.delimiter}/b` })).toEqual(['/a', '/b']);
  });
});

describe('public preparation errors', () => {
  it('shows the path as the user wrote it and hides every other absolute path', () => {
    const err = new InvalidInputError('class folder /srv/real/set/a is empty');
    expect(publicPreparationError(err, '/srv/real/set', 'data/set')).toBe('class folder data/set/a is empty');
    expect(publicPreparationError(new Error('ENOENT /var/lib/x'), null, 'd')).not.toContain('/var');
    expect(redactAbsolutePaths('cannot open "/srv/u/x.png" (at /tmp/y)')).toBe(
      'cannot open "<path>" (at <path>)',
    );
  });
});

describe('secrets in messages', () => {
  it('masks connection-string passwords in log lines and hides connection strings and paths from clients', () => {
    const line =
      '{"msg":"cannot connect to postgres://braintune:s3cret@db:5432/bt","redis":"redis://:pw@r:6379"}';
    const masked = maskSecrets(line);
    expect(masked).not.toContain('s3cret');
    expect(masked).not.toContain(':pw@');
    expect(masked).toContain('postgres://braintune:***@db:5432/bt');
    const shown = publicMessage(
      'checkpoint missing from file:///srv/artifacts (postgres://u:p@h/d) at /srv/x',
    );
    expect(shown).toBe('checkpoint missing from <path> (<postgres connection>) at <path>');
    expect(publicMessage('list studies with GET /api/studies')).toBe('list studies with GET /api/studies');
  });
});
