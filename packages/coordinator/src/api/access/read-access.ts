import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { READ_COOKIE, bearerOf, cookieOf, refuseUnauthorized, sameToken } from './tokens.js';

export interface ReadAccessOptions {
  /** BRAINTUNE_READ_TOKEN: when unset, reads are open. */
  readToken: string | undefined;
  /** BRAINTUNE_API_TOKEN also grants reads. */
  apiToken?: string | undefined;
}

/** Paths anyone may read: probes, the API description and the pages' static code. */
const PUBLIC_PATHS = [/^\/healthz$/, /^\/readyz$/, /^\/api\/openapi\.json$/, /^\/static\//, /^\/vendor\//];

function wantsHtml(req: Request): boolean {
  return (
    req.method === 'GET' && !req.path.startsWith('/api/') && (req.get('accept') ?? '').includes('text/html')
  );
}

const LOGIN_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>braintune: read token</title>
<link rel="stylesheet" href="/static/style.css"></head><body><main style="max-width:32rem;margin:4rem auto">
<h1>braintune</h1><p>This dashboard needs its read token (BRAINTUNE_READ_TOKEN).</p>
<form method="get"><label>Read token <input name="token" type="password" autocomplete="current-password" autofocus required></label>
<button type="submit">Open</button></form></main></body></html>`;

/**
 * Guards every read (API, downloads, live updates, pages) with BRAINTUNE_READ_TOKEN when set.
 * Clients send `Authorization: Bearer <token>`; a browser opens any page once with
 * `?token=<token>` (or the login form that a page shows without it): the server keeps the
 * token in an HttpOnly, SameSite=Strict cookie and redirects to the same page without it, so
 * the page's own requests (fetch, EventSource) carry it. Mutations are the API token's business.
 */
export function requireReadAccess(options: ReadAccessOptions): RequestHandler {
  const { readToken, apiToken } = options;
  if (!readToken) return (_req, _res, next) => next();
  const accepts = (given: string | null): boolean =>
    given !== null && (sameToken(given, readToken) || (apiToken !== undefined && sameToken(given, apiToken)));
  return (req: Request, res: Response, next: NextFunction) => {
    if (PUBLIC_PATHS.some((p) => p.test(req.path))) return next();
    const query = typeof req.query.token === 'string' ? req.query.token : null;
    if (query !== null && req.method === 'GET') {
      if (!accepts(query)) return void res.status(401).type('html').send(LOGIN_PAGE);
      const url = new URL(req.originalUrl, 'http://x');
      url.searchParams.delete('token');
      res.cookie(READ_COOKIE, query, { httpOnly: true, sameSite: 'strict', path: '/' });
      return void res.redirect(303, `${url.pathname}${url.search}`);
    }
    const bearer = bearerOf(req);
    // A mutation carries the API token; its own guard checks it.
    if (bearer !== null && req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (accepts(bearer) || accepts(cookieOf(req, READ_COOKIE))) return next();
    if (wantsHtml(req)) return void res.status(401).type('html').send(LOGIN_PAGE);
    refuseUnauthorized(
      res,
      'reading needs the read token',
      'send "Authorization: Bearer <BRAINTUNE_READ_TOKEN>", or open a dashboard page once with ?token=<BRAINTUNE_READ_TOKEN>',
    );
  };
}
