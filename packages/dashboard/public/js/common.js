/* global Headers, Node, URLSearchParams */
// Shared helpers of every dashboard page: the top bar, API calls with the bearer token,
// formatting, and a tiny element builder (no framework: the pages are small).

const TOKEN_KEY = 'braintune.apiToken';

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) ?? '';
}

export function askToken(reason) {
  const value = window.prompt(
    (reason ? reason + '\n\n' : '') + 'API token (BRAINTUNE_API_TOKEN). It is kept in this browser only.',
    getToken(),
  );
  if (value !== null) localStorage.setItem(TOKEN_KEY, value.trim());
  const button = document.querySelector('header.top .token');
  if (button) button.textContent = getToken() ? 'Token set' : 'Set API token';
  return value !== null;
}

/** Calls the API; a 401 asks for the token once and retries. Throws an Error with the server's message. */
export async function api(path, options = {}, retried = false) {
  const headers = new Headers(options.headers ?? {});
  const token = getToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  if (options.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401 && !retried && askToken('This action needs the API token.')) {
    return api(path, options, true);
  }
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('application/json') ? await res.json() : await res.text();
  if (!res.ok) {
    const err = new Error(typeof body === 'object' && body ? (body.message ?? body.error ?? res.statusText) : String(body));
    err.status = res.status;
    err.body = body;
    throw err;
  }
  return body;
}

/** el('div.cls', {attr}, children…) */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const node = document.createElement(tag || 'div');
  if (classes.length) node.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'html') node.innerHTML = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (typeof value !== 'number') return String(value);
  return value.toFixed(digits);
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString();
}

/** Trial ids are `<study>:<index>`: show `#index`; other ids are short already. */
export function shortId(id) {
  const trial = /:(\d+)$/.exec(id ?? '');
  if (trial) return `#${trial[1]}`;
  return id && id.length > 16 ? id.slice(0, 14) + '…' : id;
}

export function badge(status) {
  return el(`span.badge.${status}`, {}, status);
}

/** Human label of a class name: glioma_tumor → glioma, no_tumor → no tumour. */
export function classLabel(name) {
  if (name === 'no_tumor' || name === 'notumor') return 'no tumour';
  return name.replace(/_tumou?r$/, '').replace(/_/g, ' ');
}

/** Glioma first (the costly miss in triage), then the rest alphabetically. */
export function orderClasses(classes) {
  return [...classes].sort((a, b) => (/glioma/.test(b) ? 1 : 0) - (/glioma/.test(a) ? 1 : 0) || a.localeCompare(b));
}

export function renderTopBar(active) {
  const links = [
    ['studies', '/', 'Studies'],
    ['registry', '/registry', 'Registry'],
    ['predict', '/predict', 'Predict'],
    ['queues', '/queues', 'Queues'],
    ['metrics', '/metrics', 'Metrics'],
  ];
  const bar = el(
    'header.top',
    {},
    el('a.brand', { href: '/' }, 'brain', el('span', {}, 'tune')),
    el('nav', {}, links.map(([key, href, text]) => el(`a${key === active ? '.active' : ''}`, { href }, text))),
    el('button.token', { type: 'button', onclick: () => askToken(), title: 'Set the API token used for actions' }, getToken() ? 'Token set' : 'Set API token'),
  );
  document.body.prepend(bar);
}

export function showError(container, err) {
  container.replaceChildren(el('div.notice.error', {}, err instanceof Error ? err.message : String(err)));
}

export function param(name) {
  return new URLSearchParams(window.location.search).get(name);
}

/** Last path segment, e.g. the study id of /studies/<id>. */
export function pathId() {
  const parts = window.location.pathname.split('/').filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] ?? '');
}

/** Distinct colours for curve series; index 0 is reserved for the best trial. */
export function seriesColor(i) {
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
  return palette[i % palette.length];
}
