// The one way the dashboard talks to weir: the public API, with the session
// cookie (and its CSRF value for changes), or anonymously under --public-read.

let csrf = sessionStorage.getItem('weir.csrf') || '';
let csrfHeader = 'x-weir-csrf';
export let me = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.hint = body && body.hint;
    this.code = body && body.error;
  }
}

export async function api(path, opts = {}) {
  const headers = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.method && opts.method !== 'GET' && csrf) headers[csrfHeader] = csrf;
  const r = await fetch(`/api/v1${path}`, {
    method: opts.method || 'GET',
    headers,
    credentials: 'same-origin',
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
  });
  if (r.status === 204) return null;
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json().catch(() => null) : await r.text();
  if (!r.ok) {
    if (r.status === 401 && !opts.quiet) location.hash = '#/login';
    throw new ApiError(r.status, typeof body === 'object' ? body : { message: body });
  }
  return body;
}

export async function login(token) {
  const reply = await api('/session', { method: 'POST', body: { token }, quiet: true });
  csrf = reply.csrf;
  csrfHeader = reply.csrf_header;
  sessionStorage.setItem('weir.csrf', csrf);
  return whoami();
}

export async function logout() {
  await api('/session', { method: 'DELETE' });
  sessionStorage.removeItem('weir.csrf');
  csrf = '';
  me = null;
}

/// Who is looking: null when nobody is (no valid token or cookie, and no
/// --public-read).
export async function whoami() {
  const reply = await api('/session', { quiet: true });
  me = reply.actor ? reply : null;
  if (me && me.csrf) {
    csrf = me.csrf;
    csrfHeader = me.csrf_header;
    sessionStorage.setItem('weir.csrf', csrf);
  }
  return me;
}

export function canOperate() {
  return !!me && (me.role === 'operator' || me.role === 'admin');
}

/// Streams a text body (a run's log) to `onText` until it ends.
export async function stream(path, onText, signal) {
  const r = await fetch(`/api/v1${path}`, { credentials: 'same-origin', signal });
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onText(dec.decode(value, { stream: true }));
  }
}
