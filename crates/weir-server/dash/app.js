// The dashboard's shell: who is looking, which environment, which page, and
// live updates from the API's event stream.
import { api, whoami, me, logout } from '/assets/api.js';
import * as pages from '/assets/pages.js';

export const state = { env: localStorage.getItem('weir.env') || 'prod', envs: [], listeners: new Set() };

/// Calls `fn` after catalog changes (deploys, runs, alias moves…), at most
/// twice a second; returns the function that stops it.
export function onChange(fn) {
  state.listeners.add(fn);
  return () => state.listeners.delete(fn);
}

let pending = null;
function changed() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    for (const fn of state.listeners) fn();
  }, 500);
}

let liveStarted = false;
function live() {
  if (liveStarted) return;
  liveStarted = true;
  const dot = document.getElementById('live');
  const es = new EventSource('/api/v1/events');
  es.onopen = () => { dot.classList.add('on'); dot.title = 'Live: updates arrive as they happen'; };
  es.onerror = () => { dot.classList.remove('on'); dot.title = 'Reconnecting to live updates…'; };
  es.onmessage = changed;
  for (const kind of ['deploy', 'alias', 'invalidate', 'trash', 'accept', 'pause', 'resume', 'cancel', 'token']) {
    es.addEventListener(kind, changed);
  }
  // Runs finishing are not catalog changes, and time moves too (a partition
  // comes due, or late): a visible page also looks every 5 seconds.
  setInterval(() => { if (document.visibilityState === 'visible') changed(); }, 5000);
}

async function loadEnvs() {
  const p = await api('/project');
  state.envs = p.envs.map((e) => e.env);
  state.project = p;
  if (!state.envs.includes(state.env) && state.envs.length) state.env = state.envs[0];
  const sel = document.getElementById('env');
  sel.innerHTML = '';
  for (const e of state.envs) {
    const o = document.createElement('option');
    o.value = o.textContent = e;
    sel.append(o);
  }
  sel.value = state.env;
}

function showWho() {
  const who = document.getElementById('who');
  who.innerHTML = '';
  if (!me) return;
  const span = document.createElement('span');
  span.textContent = `${me.actor}${me.role ? ` (${me.role})` : ''}`;
  who.append(span);
  if (me.csrf) {
    const b = document.createElement('button');
    b.textContent = 'Sign out';
    b.className = 'link';
    b.onclick = async () => { await logout(); location.hash = '#/login'; };
    who.append(' ', b);
  } else {
    const a = document.createElement('a');
    a.href = '#/login';
    a.textContent = 'Sign in';
    who.append(' ', a);
  }
}

let stop = null;
async function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  const name = parts[0] || 'grid';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (stop) { stop(); stop = null; }
  state.listeners.clear();
  const main = document.getElementById('main');
  main.innerHTML = '';
  document.getElementById('tip').hidden = true;
  if (name !== 'login' && !me) {
    await whoami();
    if (!me) { location.hash = '#/login'; return; }
    await loadEnvs();
    showWho();
  }
  const page = pages.routes[name] || pages.notFound;
  try {
    stop = (await page(main, { params, parts, state })) || null;
  } catch (e) {
    pages.showError(main, e);
  }
}

async function start() {
  document.getElementById('env').addEventListener('change', (e) => {
    state.env = e.target.value;
    localStorage.setItem('weir.env', state.env);
    route();
  });
  window.addEventListener('hashchange', route);
  document.addEventListener('weir:signed-in', async () => { await loadEnvs(); showWho(); live(); });
  await whoami();
  if (me) { await loadEnvs(); showWho(); live(); }
  await route();
}

start();
