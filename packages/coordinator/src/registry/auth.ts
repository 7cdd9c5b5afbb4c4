import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { bearerOf, refuseUnauthorized, sameToken } from '../api/access/tokens.js';

/**
 * Guards mutating endpoints (submit, cancel, promote, alias, predict upload): when a token
 * is configured (BRAINTUNE_API_TOKEN), requests must carry `Authorization: Bearer <token>`
 * or get 401 before any body is read or anything is stored. Without a token the API is open
 * (a local, single-user cluster bound to 127.0.0.1).
 */
export function requireApiToken(token: string | undefined): RequestHandler {
  if (!token) return (_req, _res, next) => next();
  return (req: Request, res: Response, next: NextFunction) => {
    const given = bearerOf(req);
    if (given !== null && sameToken(given, token)) return next();
    refuseUnauthorized(
      res,
      given !== null ? 'the API token is wrong' : 'this action needs the API token',
      'send "Authorization: Bearer <BRAINTUNE_API_TOKEN>" (the dashboard asks for it once)',
    );
  };
}

/** Methods that change state. */
export function isMutatingMethod(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
}

/** requireApiToken applied to every mutating request of a router (mount before the routes). */
export function requireApiTokenForMutations(token: string | undefined): RequestHandler {
  const guard = requireApiToken(token);
  return (req, res, next) => (isMutatingMethod(req.method) ? guard(req, res, next) : next());
}
