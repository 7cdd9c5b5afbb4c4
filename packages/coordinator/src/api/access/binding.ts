import { isIP } from 'node:net';
import { InvalidInputError } from '@braintune/protocol';

/** Host names that only this machine can reach. */
export const LOOPBACK_HOSTNAMES = ['localhost', '127.0.0.1', '::1'] as const;

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

export interface BindingChoice {
  /** The address to listen on (default 127.0.0.1). */
  host: string;
  /**
   * Host headers the server answers (null: any): on a loopback address only the loopback names,
   * which stops DNS rebinding from turning a visited web page into a same-origin API client.
   */
  allowedHostnames: string[] | null;
}

/**
 * Where a braintune HTTP server may listen. Loopback needs nothing; any other address (every
 * interface included) exposes the API to the network, so it needs BRAINTUNE_API_TOKEN for
 * mutations, or an explicit `--insecure` from an operator who guards the network otherwise.
 */
export function chooseBinding(options: {
  host?: string | undefined;
  apiToken?: string | undefined;
  insecure?: boolean | undefined;
}): BindingChoice {
  const host = options.host?.trim() || '127.0.0.1';
  if (isLoopbackHost(host)) return { host, allowedHostnames: [...LOOPBACK_HOSTNAMES, host] };
  if (!options.apiToken && !options.insecure) {
    throw new InvalidInputError(
      `refusing to listen on ${host} without BRAINTUNE_API_TOKEN: anyone who can reach this address could submit studies, cancel them and promote models`,
      'set BRAINTUNE_API_TOKEN to a long random string (clients send it as a bearer token), or pass --insecure if the network is guarded otherwise; leave --host out to listen on 127.0.0.1 only',
    );
  }
  return { host, allowedHostnames: null };
}
