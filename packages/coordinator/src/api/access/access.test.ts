import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '@braintune/protocol';
import { requireApiTokenForMutations } from '../../registry/auth.js';
import { chooseBinding, isLoopbackHost } from './binding.js';
import { crossSiteGuard, hostGuard } from './cross-site.js';
import { requireReadAccess } from './read-access.js';
import { READ_COOKIE, sameToken } from './tokens.js';

describe('binding', () => {
  it('listens on loopback by default and refuses another address without a token', () => {
    expect(chooseBinding({})).toMatchObject({ host: '127.0.0.1' });
    expect(chooseBinding({}).allowedHostnames).toContain('localhost');
    expect(isLoopbackHost('127.0.0.2')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    const refused = (() => {
      try {
        chooseBinding({ host: '0.0.0.0' });
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(refused).toBeInstanceOf(InvalidInputError);
    expect((refused as InvalidInputError).message).toMatch(/without BRAINTUNE_API_TOKEN.*submit studies/);
    expect((refused as InvalidInputError).hint).toMatch(/--insecure/);
    expect(chooseBinding({ host: '0.0.0.0', apiToken: 't' })).toEqual({
      host: '0.0.0.0',
      allowedHostnames: null,
    });
    expect(chooseBinding({ host: '0.0.0.0', insecure: true }).host).toBe('0.0.0.0');
  });

  it('compares tokens through their hashes', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abc', 'abcd')).toBe(false);
    expect(sameToken('', 'abc')).toBe(false);
  });
});

describe('access control over HTTP', () => {
  let server: Server;
  let base: string;
  const READ = 'read-secret';
  const API = 'api-secret';

  beforeAll(async () => {
    const app = express();
    app.use(hostGuard(['localhost', '127.0.0.1', '::1']));
    app.use(requireReadAccess({ readToken: READ, apiToken: API }));
    app.use('/api', crossSiteGuard(), requireApiTokenForMutations(API));
    app.get('/healthz', (_req, res) => void res.json({ ok: true }));
    app.get('/studies', (_req, res) => void res.type('html').send('<p>page</p>'));
    app.get('/api/things', (_req, res) => void res.json([1]));
    app.post('/api/things', (_req, res) => void res.status(201).json({ ok: true }));
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server?.close();
  });

  /** fetch() sets Host itself; node:http lets the test send another one. */
  const statusWithHost = (host: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(`${base}/healthz`, { headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    expect(await statusWithHost('attacker.example:80')).toBe(403);
    expect(await statusWithHost('localhost:1')).toBe(200);
    expect(await statusWithHost('[::1]:8080')).toBe(200);
  });

  it('guards every read with the read token; probes stay open', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/api/things`)).status).toBe(401);
    expect((await fetch(`${base}/api/things`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(
      401,
    );
    for (const token of [READ, API])
      expect(
        (await fetch(`${base}/api/things`, { headers: { authorization: `Bearer ${token}` } })).status,
      ).toBe(200);
    const page = await fetch(`${base}/studies`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('<form');
  });

  it('lets a page in once with ?token=, then by an HttpOnly SameSite cookie', async () => {
    const login = await fetch(`${base}/studies?token=${READ}&x=1`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/studies?x=1');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const jar = cookie.split(';')[0]!;
    expect(jar.startsWith(`${READ_COOKIE}=`)).toBe(true);
    expect((await fetch(`${base}/api/things`, { headers: { cookie: jar } })).status).toBe(200);
    expect((await fetch(`${base}/studies?token=nope`, { redirect: 'manual' })).status).toBe(401);
  });

  it('mutations need the API token and a same-origin browser', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/api/things`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: `Bearer ${READ}` })).status).toBe(401);
    expect((await post({ authorization: `Bearer ${API}` })).status).toBe(201);
    expect((await post({ authorization: `Bearer ${API}`, origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ authorization: `Bearer ${API}`, origin: 'null' })).status).toBe(403);
    expect((await post({ authorization: `Bearer ${API}`, origin: base })).status).toBe(201);
  });
});
