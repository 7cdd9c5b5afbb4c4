import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { apiErrorBody } from '@braintune/protocol';
import { isMutatingMethod } from '../../registry/auth.js';

function refuse(res: Response, status: number, message: string, hint: string): void {
  res
    .status(status)
    .json(apiErrorBody(status === 415 ? 'unsupported_media_type' : 'forbidden', message, hint));
}

/** `host[:port]` (or only the host name) of a Host header or an origin, lower-cased. */
function hostOf(hostOrUrl: string, part: 'host' | 'hostname' = 'host'): string | null {
  try {
    const url = new URL(hostOrUrl.includes('://') ? hostOrUrl : `http://${hostOrUrl}`);
    return url[part].toLowerCase().replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
}

/**
 * Refuses cross-site mutations: a page on another site can make a browser POST a form
 * (text/plain, urlencoded, multipart) with the user's network position, so a mutating request
 * whose `Origin` names another host than `Host`, or that the browser labels cross-site
 * (`Sec-Fetch-Site`), gets 403. Clients that are not browsers send neither header.
 */
export function crossSiteGuard(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!isMutatingMethod(req.method)) return next();
    const site = req.get('sec-fetch-site');
    if (site && site !== 'same-origin' && site !== 'none')
      return refuse(
        res,
        403,
        `cross-site request refused (${site})`,
        'use the dashboard or the CLI on this server',
      );
    const origin = req.get('origin');
    if (origin !== undefined) {
      const host = req.get('host');
      const from = origin === 'null' ? null : hostOf(origin);
      if (from === null || host === undefined || from !== hostOf(host))
        return refuse(
          res,
          403,
          'cross-origin request refused',
          'send mutating requests from the dashboard itself or without an Origin header (CLI, curl)',
        );
    }
    next();
  };
}

/**
 * Refuses requests whose Host header is not one of `hostnames` (any port): with the server on
 * 127.0.0.1 this stops DNS rebinding, where a page at attacker.example resolves to 127.0.0.1
 * and reads the API as a same-origin page would. Null accepts any Host (a server bound to a
 * public address, whose clients name it by whatever DNS name they use).
 */
export function hostGuard(hostnames: readonly string[] | null): RequestHandler {
  if (hostnames === null) return (_req, _res, next) => next();
  const allowed = new Set(hostnames.map((h) => h.toLowerCase().replace(/^\[|\]$/g, '')));
  return (req: Request, res: Response, next: NextFunction) => {
    const name = hostOf(req.get('host') ?? '', 'hostname');
    if (name !== null && allowed.has(name)) return next();
    refuse(
      res,
      403,
      `unexpected Host header`,
      `reach this server as ${[...allowed].join(' or ')}, or start it with --host`,
    );
  };
}

const STUDY_TYPES = [
  'application/json',
  'application/yaml',
  'application/x-yaml',
  'text/yaml',
  'text/x-yaml',
];

/** A study config must come as JSON or YAML: a cross-site form can only send text/plain, urlencoded or multipart. */
export function requireStudyContentType(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const type = (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (STUDY_TYPES.includes(type) || type.endsWith('+json')) return next();
    refuse(
      res,
      415,
      type
        ? `content type ${type} is not accepted for a study config`
        : 'the study config needs a content type',
      'send it as application/yaml or application/json (braintune submit does)',
    );
  };
}
