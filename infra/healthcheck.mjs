/* global AbortSignal */
// Container health probe without curl/wget (the slim images have neither): exits 0 when
// HEALTHCHECK_URL answers 2xx within 4 s, 1 otherwise. With no HEALTHCHECK_URL (workers,
// one-shot commands) there is nothing to probe and the process being alive is the check.
const url = process.env.HEALTHCHECK_URL;
if (!url) process.exit(0);
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
