import os from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import { z } from 'zod';
import { InvalidInputError } from '@braintune/protocol';

/** docker compose passes `${VAR:-}` as an empty string: treat it as unset. */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema);

/**
 * Connection settings of the S3-compatible store, from the environment (the names the AWS
 * tools use, plus S3_ENDPOINT for MinIO, Garage, Ceph RGW, …).
 */
export const S3EnvSchema = z.object({
  /** e.g. http://minio:9000. Unset: AWS S3 itself (https, virtual-host addressing). */
  S3_ENDPOINT: unsetIfEmpty(z.string().url().optional()),
  /** Path-style addressing (http://host/bucket/key). Default: on when S3_ENDPOINT is set (MinIO needs it). */
  S3_FORCE_PATH_STYLE: unsetIfEmpty(z.enum(['true', 'false', '1', '0']).optional()),
  AWS_REGION: unsetIfEmpty(z.string().min(1).optional()),
  AWS_DEFAULT_REGION: unsetIfEmpty(z.string().min(1).optional()),
  AWS_ACCESS_KEY_ID: unsetIfEmpty(z.string().min(1).optional()),
  AWS_SECRET_ACCESS_KEY: unsetIfEmpty(z.string().min(1).optional()),
  AWS_SESSION_TOKEN: unsetIfEmpty(z.string().min(1).optional()),
  /** Local cache of downloaded artifacts. Default: $XDG_CACHE_HOME/braintune/s3 or ~/.cache/braintune/s3. */
  ARTIFACT_CACHE_DIR: unsetIfEmpty(z.string().min(1).optional()),
  XDG_CACHE_HOME: unsetIfEmpty(z.string().min(1).optional()),
});
export type S3Env = z.infer<typeof S3EnvSchema>;

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slashes ('' for the bucket root). */
  prefix: string;
}

/** Parses `s3://bucket/optional/prefix`. */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/.*)?$/.exec(url);
  if (!match) {
    throw new InvalidInputError(
      `invalid S3 location "${url}"`,
      'use s3://<bucket>/<prefix>, with a bucket name of 3–63 lower-case letters, digits, dots and hyphens',
    );
  }
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '.' || part === '..')) {
    throw new InvalidInputError(
      `invalid S3 prefix in "${url}"`,
      'the prefix must not contain "." or ".." segments',
    );
  }
  return { bucket: match[1]!, prefix };
}

export function readS3Env(source: NodeJS.ProcessEnv = process.env): S3Env {
  const parsed = S3EnvSchema.safeParse(source);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new InvalidInputError(
      `invalid S3 settings: ${issues}`,
      'fix the S3_* / AWS_* variables named above',
    );
  }
  return parsed.data;
}

/** A client for the configured endpoint. */
export function createS3Client(env: S3Env): Client {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const credentials = {
    ...(env.AWS_ACCESS_KEY_ID ? { accessKey: env.AWS_ACCESS_KEY_ID } : {}),
    ...(env.AWS_SECRET_ACCESS_KEY ? { secretKey: env.AWS_SECRET_ACCESS_KEY } : {}),
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
  if (!env.S3_ENDPOINT) {
    return new Client({
      endPoint: 's3.amazonaws.com',
      useSSL: true,
      region,
      ...credentials,
      pathStyle: env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1',
    });
  }
  const endpoint = new URL(env.S3_ENDPOINT);
  const useSSL = endpoint.protocol === 'https:';
  const pathStyle =
    env.S3_FORCE_PATH_STYLE === undefined
      ? true
      : env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1';
  return new Client({
    endPoint: endpoint.hostname,
    port: endpoint.port ? Number(endpoint.port) : useSSL ? 443 : 80,
    useSSL,
    region,
    pathStyle,
    ...credentials,
  });
}

/** Where a store caches what it downloads: one directory per bucket and prefix. */
export function defaultCacheDir(location: S3Location, env: S3Env): string {
  const root =
    env.ARTIFACT_CACHE_DIR ??
    path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'braintune', 's3');
  return path.resolve(root, location.bucket, ...(location.prefix ? location.prefix.split('/') : []));
}
