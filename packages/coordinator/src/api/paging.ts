import type { Request, Response } from 'express';

/**
 * The paging headers of a list response: `X-Total-Count`, and `Link: <…?offset=N>; rel="next"`
 * (RFC 8288) while rows remain after this page.
 */
export function setPageHeaders(
  req: Request,
  res: Response,
  page: { limit: number; offset: number },
  returned: number,
  total: number,
): void {
  res.set('X-Total-Count', String(total));
  if (page.offset + returned >= total) return;
  const url = new URL(req.originalUrl, 'http://x');
  url.searchParams.set('offset', String(page.offset + returned));
  url.searchParams.set('limit', String(page.limit));
  res.set('Link', `<${url.pathname}${url.search}>; rel="next"`);
}
