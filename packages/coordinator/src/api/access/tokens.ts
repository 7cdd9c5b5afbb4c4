import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { apiErrorBody } from '@braintune/protocol';

/**
 * Compares a presented token with the configured one in constant time without leaking its
 * length: both are hashed first, so the comparison always runs over 32 bytes.
 */
export function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** 401 with the Bearer challenge: the token is missing or wrong, and the hint says which to send. */
export function refuseUnauthorized(res: Response, message: string, hint: string): void {
  res
    .status(401)
    .set('WWW-Authenticate', 'Bearer realm="braintune"')
    .json(apiErrorBody('unauthorized', message, hint));
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerOf(req: Request): string | null {
  const match = /^Bearer\s+(.+)$/i.exec((req.get('authorization') ?? '').trim());
  return match?.[1] ?? null;
}

/** Name of the cookie a dashboard page's read token is kept in (HttpOnly, SameSite=Strict). */
export const READ_COOKIE = 'braintune_read';

/** One cookie's value from the Cookie header (no dependency for the one cookie we set). */
export function cookieOf(req: Request, name: string): string | null {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}
