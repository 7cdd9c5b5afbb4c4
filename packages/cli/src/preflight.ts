import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { requirePostgres, requireRedis } from '@braintune/coordinator/health';
import { BraintuneError, connectionErrorReason } from '@braintune/protocol';

/**
 * Before a command starts anything long-lived, it checks the services it needs so a wrong URL
 * or a stopped server fails in seconds with one line naming it, instead of hanging in a
 * client that retries forever.
 */
export interface Needs {
  redisUrl?: string;
  databaseUrl?: string;
  artifactRoot?: string;
}

const STORE_TIMEOUT_MS = 6000;

/** The artifact store answers: a filesystem root can be created and written, a bucket can be read. */
export async function requireArtifactStore(location: string): Promise<void> {
  const fail = (why: string, hint: string, cause?: unknown): never => {
    throw new BraintuneError(`cannot use the artifact store ${location} (${why})`, 'unavailable', hint, {
      cause,
    });
  };
  if (!location.startsWith('s3://')) {
    const dir = location.startsWith('file://') ? new URL(location).pathname : location;
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    } catch (err) {
      fail(connectionErrorReason(err), 'set ARTIFACT_ROOT to a writable directory (or an s3:// URL)', err);
    }
    return;
  }
  const { openArtifactStore } = await import('@braintune/artifacts');
  const store = openArtifactStore(location);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS);
  });
  try {
    await Promise.race([store.exists('braintune-preflight'), timeout]);
  } catch (err) {
    fail(
      connectionErrorReason(err),
      'check S3_ENDPOINT and the AWS_* credentials, or set ARTIFACT_ROOT to a directory',
      err,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Checks every service named in `needs`, at the same time (all well within 10 s). */
export async function requireServices(needs: Needs): Promise<void> {
  const checks: Promise<void>[] = [];
  if (needs.redisUrl) checks.push(requireRedis(needs.redisUrl));
  if (needs.databaseUrl) checks.push(requirePostgres(needs.databaseUrl));
  if (needs.artifactRoot) checks.push(requireArtifactStore(needs.artifactRoot));
  const results = await Promise.allSettled(checks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
