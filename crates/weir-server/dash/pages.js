// The dashboard's pages. Each is `async (main, ctx) => stop?`: it fills
// `main` from the API and returns what to stop when the page is left.
import { api, login, canOperate, stream, ApiError } from '/assets/api.js';
import { Grid, STATES, drawCell } from '/assets/grid.js';
import { layout, drawLineage } from '/assets/lineage.js';
import { lineChart, multiLineChart } from '/assets/chart.js';
import { onChange } from '/assets/app.js';

// ---- small helpers -------------------------------------------------------

export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick' || k === 'onchange' || k === 'onsubmit' || k === 'oninput') e[k] = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

const enc = encodeURIComponent;
const when = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '—');
const dur = (ms) => (ms < 1000 ? `${ms} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`);
const num = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en'));

function table(head, rows, caption) {
  return el('table', {},
    caption ? el('caption', { text: caption }) : null,
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))));
}

function badge(state) {
  return el('span', { class: `badge s-${state}` }, state);
}

export function showError(main, e) {
  main.append(el('div', { class: 'error', role: 'alert' },
    el('strong', { text: e.message || String(e) }),
    e.hint ? el('p', { text: e.hint }) : null));
}

/// Asks before an action: resolves to the reason typed (or '' when none is
/// asked for), or null when cancelled.
export function confirmAction(title, body, { reason = false } = {}) {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  const b = document.getElementById('confirm-body');
  b.innerHTML = '';
  b.append(body);
  const label = document.getElementById('confirm-reason-label');
  const input = document.getElementById('confirm-reason');
  label.hidden = !reason;
  input.value = '';
  return new Promise((resolve) => {
    d.onclose = () => resolve(d.returnValue === 'ok' ? input.value : null);
    d.returnValue = '';
    d.showModal();
    (reason ? input : document.getElementById('confirm-cancel')).focus();
  });
}

function note(main, text, kind = 'ok') {
  const n = el('div', { class: `note ${kind}`, role: 'status', text });
  main.prepend(n);
  setTimeout(() => n.remove(), 8000);
}

// ---- login ---------------------------------------------------------------

async function loginPage(main) {
  const input = el('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help' });
  const msg = el('p', { class: 'error', role: 'alert', hidden: true });
  const form = el('form', {
    class: 'login',
    onsubmit: async (e) => {
      e.preventDefault();
      msg.hidden = true;
      try {
        await login(input.value.trim());
        document.dispatchEvent(new Event('weir:signed-in'));
        location.hash = '#/';
      } catch (err) {
        msg.textContent = err.message;
        msg.hidden = false;
      }
    },
  },
  el('h1', { text: 'Sign in to weir' }),
  el('label', { for: 'token', text: 'Token' }), input,
  el('p', { id: 'token-help', class: 'help', text: 'A token from `weir token create --role viewer` (or operator, to act). The browser keeps an HttpOnly session cookie; the token is not stored by the page.' }),
  el('button', { type: 'submit', text: 'Sign in' }), msg);
  main.append(form);
  input.focus();
}

// ---- the status grid -----------------------------------------------------

const ZOOMS = ['minute', 'hour', 'day', 'week', 'month'];

function legend() {
  return el('ul', { class: 'legend', 'aria-label': 'Cell states' },
    Object.entries(STATES).map(([code, s]) => {
      const c = el('canvas', { width: 14, height: 14, 'aria-hidden': 'true' });
      drawCell(c.getContext('2d'), code, 0, 0, 14, 14);
      return el('li', {}, c, ` ${s.name}`);
    }));
}

async function gridPage(main, { params, state }) {
  const zoom = params.get('zoom') || 'day';
  const from = params.get('from');
  const to = params.get('to');
  const only = params.get('datasets');
  const compare = params.get('compare') || '';
  const go = (changes) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v) p.set(k, v); else p.delete(k); }
    location.hash = `#/?${p}`;
  };
  const controls = el('div', { class: 'controls' },
    el('span', { class: 'group', role: 'group', 'aria-label': 'Zoom' },
      ZOOMS.map((z) => el('button', { type: 'button', 'aria-pressed': String(z === zoom), onclick: () => go({ zoom: z, from: '', to: '' }), text: z }))),
    el('label', {}, 'Compare with ',
      el('select', { id: 'compare', onchange: (e) => go({ compare: e.target.value }) },
        el('option', { value: '', text: '—' }),
        state.envs.filter((e) => e !== state.env).map((e) => el('option', { value: e, selected: e === compare, text: e })))),
    only ? el('span', { class: 'chip' }, `datasets: ${only} `, el('button', { type: 'button', class: 'link', onclick: () => go({ datasets: '' }), text: '× all' })) : null,
  );
  const summary = el('p', { class: 'summary', 'aria-live': 'polite' });
  const host = el('div', { class: 'gridhost' });
  main.append(el('h1', { class: 'sr-only', text: 'Status grid' }), controls, summary, host, legend());
  const q = (env) => {
    const p = new URLSearchParams({ zoom, detail: 'states' });
    if (from) p.set('from', from);
    if (to) p.set('to', to);
    if (only) p.set('datasets', only);
    return `/envs/${enc(env)}/grid?${p}`;
  };
  const grid = new Grid(host, {
    open: (row, col) => openCell(row, col, zoom, grid, row.env2 || state.env),
    detail: (row, col) => cellDetail(row, col, zoom, grid, row.env2 || state.env),
  });
  // The progress of versions being built comes from the status, after the
  // grid is on screen: it is not worth delaying the first paint for.
  let progress = {};
  async function loadProgress() {
    const status = await api(`/envs/${enc(state.env)}/status${only ? `?datasets=${enc(only)}` : ''}`).catch(() => []);
    progress = Object.fromEntries(status.map((s) => [s.dataset, s.fraction]));
    for (const r of grid.rows) r.progress = progress[r.dataset];
    grid.schedule();
  }
  async function load() {
    const [g, other] = await Promise.all([
      api(q(state.env)),
      compare ? api(q(compare)).catch(() => null) : null,
    ]);
    let rows = g.rows.map((r) => ({ ...r, progress: progress[r.dataset] }));
    if (other) {
      const by = Object.fromEntries(other.rows.map((r) => [r.dataset, r]));
      rows = rows.flatMap((r) => (by[r.dataset] ? [r, { ...by[r.dataset], env2: compare }] : [r]));
    }
    grid.set({ ...g, rows });
    const counts = {};
    for (const r of g.rows) for (const c of r.states) counts[c] = (counts[c] || 0) + 1;
    const bad = ['F', 'B', 'L'].filter((c) => counts[c]).map((c) => `${counts[c]} ${STATES[c].name}`);
    summary.textContent = `${state.env}: ${g.rows.length} datasets × ${g.columns.length} ${zoom} columns. ${bad.length ? 'Needs attention: ' + bad.join(', ') + '.' : 'Nothing failed, blocked or late.'}`;
  }
  await load();
  loadProgress();
  return onChange(() => load().then(loadProgress).catch(() => {}));
}

/// The cell's own text: counts per state, the reason, the partition.
async function cellDetail(row, col, zoom, grid, env) {
  const d = await fetchCell(row, col, zoom, grid, env);
  if (!d) return '';
  const counts = Object.entries(d.counts).map(([s, n]) => `${n} ${s.replace('_', ' ')}`).join(', ');
  return [d.partition, counts, d.reason].filter(Boolean).join('\n');
}

const cellCache = new Map();
async function fetchCell(row, col, zoom, grid, env) {
  const [from, to] = grid.span(col);
  const key = `${env}|${row.dataset}|${zoom}|${from}|${to}|${row.states[col]}`;
  if (cellCache.has(key)) return cellCache.get(key);
  const p = new URLSearchParams({ zoom, from, to, datasets: row.dataset, detail: 'full' });
  const g = await api(`/envs/${enc(env)}/grid?${p}`);
  const r = g.rows.find((x) => x.dataset === row.dataset);
  const cell = r && r.cells[0];
  if (cellCache.size > 5000) cellCache.clear();
  cellCache.set(key, cell);
  return cell;
}

async function openCell(row, col, zoom, grid, env) {
  const cell = await fetchCell(row, col, zoom, grid, env).catch(() => null);
  if (!cell) return;
  if (cell.partition) {
    const why = cell.reason ? `&why=${enc(cell.reason)}` : '';
    location.hash = `#/instance?env=${enc(env)}&dataset=${enc(row.dataset)}&partition=${enc(cell.partition)}&state=${enc(cell.state)}${why}`;
    return;
  }
  // Many partitions: zoom into this cell.
  const finer = ZOOMS[Math.max(0, ZOOMS.indexOf(zoom) - 1)];
  const [from, to] = grid.span(col);
  location.hash = `#/?zoom=${finer}&from=${enc(from)}&to=${enc(to)}&datasets=${enc(row.dataset)}`;
}

// ---- one instance ----------------------------------------------------------

function instanceLink(env, text) {
  // "plays v1 date=2026-03-14"
  const [dataset, v, partition] = text.split(' ');
  return el('a', { href: `#/instance?env=${enc(env)}&dataset=${enc(dataset)}&version=${enc((v || '').replace('v', ''))}&partition=${enc(partition || '')}`, text });
}

async function instancePage(main, { params }) {
  const env = params.get('env');
  const dataset = params.get('dataset');
  const partition = params.get('partition');
  const version = params.get('version');
  const q = new URLSearchParams();
  if (partition) q.set('partition', partition);
  if (version) q.set('version', version);
  main.append(el('p', { class: 'crumbs' }, el('a', { href: `#/?datasets=${enc(dataset)}`, text: '← grid' })));
  main.append(el('h1', {}, `${dataset} `, el('span', { class: 'muted', text: partition || '' })));
  // From the grid, the cell's state says whether an instance exists: a
  // failed or missing partition has runs and a reason, not an instance.
  const st = params.get('state');
  const why = params.get('why');
  let inst = null;
  if (st && st !== 'complete' && st !== 'blocked') {
    main.append(el('p', { class: 'state' }, badge(st.replace('_', ' ')), why ? ` ${why}` : ''));
  } else {
    try {
      inst = await api(`/envs/${enc(env)}/datasets/${enc(dataset)}/instance?${q}`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status >= 500) throw e;
      main.append(el('p', { class: 'muted', text: `No instance: ${e.message}` }));
    }
  }
  if (inst) {
    main.append(factList([
      ['version', `v${inst.version}`], ['fingerprint', inst.fingerprint.slice(0, 12)], ['rows', num(inst.rows)],
      ['bytes', num(inst.bytes)], ['committed', inst.committed_at],
      ['run', el('a', { href: `#/run/${enc(inst.run_id)}`, text: inst.run_id })],
      ['location', inst.location], ['blocked', inst.blocked ? 'yes: a blocking check failed' : 'no'],
    ]));
    if (canOperate()) main.append(actions(env, inst, main));
    main.append(el('h2', { text: 'Checks' }),
      table(['check', 'severity', 'status', 'detail'], inst.checks.map((c) => [c.name, c.severity, badge(c.status), c.detail])));
    if (inst.accepted.length) {
      main.append(el('h2', { text: 'Accepted' }), table(['by', 'when', 'reason', 'checks'], inst.accepted.map((a) => [a.by, when(a.at_ms), a.reason, (a.checks || []).join(', ')])));
    }
    main.append(el('h2', { text: 'Counters' }),
      table(['counter', 'value'], Object.entries(inst.counters).map(([k, v]) => [el('a', { href: `#/checks?dataset=${enc(dataset)}&counter=${enc(k)}`, text: k }), num(v)])));
    if (Object.keys(inst.metrics || {}).length) {
      main.append(el('h2', { text: 'Metrics' }), table(['metric', 'value'], Object.entries(inst.metrics).map(([k, v]) => [k, v === null ? 'NaN' : String(v)])));
    }
    main.append(el('h2', { text: 'Lineage' }),
      el('div', { class: 'cols' },
        el('section', {}, el('h3', { text: `Inputs (${inst.inputs.length})` }), hops(env, inst.inputs, 'inputs')),
        el('section', {}, el('h3', { text: `Consumers (${inst.consumers.length})` }), hops(env, inst.consumers, 'consumers'))));
    main.append(el('h2', { text: 'Files' }), table(['file', 'size', 'sha256'], inst.files.map((f) => [f.name, num(f.size), el('code', { text: f.sha256.slice(0, 16) })])));
    if (inst.schema) main.append(el('h2', { text: 'Schema' }), el('pre', { text: JSON.parse(inst.schema).join('\n') }));
    if (inst.profile && inst.profile.columns) {
      main.append(el('h2', { text: 'Profile' }), table(['column', 'distinct', 'nulls', 'min', 'max'],
        Object.entries(inst.profile.columns).map(([k, c]) => [k, num(c.distinct), `${((c.null_fraction || 0) * 100).toFixed(1)}%`, String(c.min ?? ''), String(c.max ?? '')])));
    }
  }
  const rq = new URLSearchParams({ dataset, env, limit: '20' });
  if (partition) rq.set('partition', partition);
  const runs = await api(`/runs?${rq}`);
  main.append(el('h2', { text: 'Runs' }), runsTable(runs));
}

/// One hop of lineage (`side`: inputs or consumers), each expandable into
/// the next hop the same way.
function hops(env, names, side) {
  const list = el('ul', { class: 'hops' });
  for (const text of names.slice(0, 50)) {
    const li = el('li', {}, instanceLink(env, text));
    const [dataset, v, partition] = text.split(' ');
    const more = el('button', {
      type: 'button', class: 'link', 'aria-expanded': 'false', 'aria-label': `${side} of ${text}`, text: '+',
      onclick: async () => {
        if (more.getAttribute('aria-expanded') === 'true') {
          li.querySelector('ul.hops')?.remove();
          more.setAttribute('aria-expanded', 'false');
          more.textContent = '+';
          return;
        }
        const q = new URLSearchParams({ partition: partition || '', version: (v || '').replace('v', '') });
        const next = await api(`/envs/${enc(env)}/datasets/${enc(dataset)}/instance?${q}`).catch(() => null);
        li.append(next ? hops(env, next[side], side) : el('p', { class: 'muted', text: 'no instance' }));
        more.setAttribute('aria-expanded', 'true');
        more.textContent = '−';
      },
    });
    li.prepend(more, ' ');
    list.append(li);
  }
  if (names.length > 50) list.append(el('li', { class: 'muted', text: `and ${names.length - 50} more` }));
  return list;
}

function factList(pairs) {
  return el('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
}

function actions(env, inst, main) {
  const body = { dataset: inst.dataset, version: inst.version, partition: inst.partition };
  const invalidate = el('button', {
    type: 'button', class: 'danger',
    onclick: async () => {
      const preview = await api(`/envs/${enc(env)}/invalidate`, { method: 'POST', body: { ...body, dry_run: true } });
      const list = el('div', {}, el('p', { text: `${preview.instances} instance(s) go to the trash: this one and what was derived from it. The scheduler rebuilds what is still wanted.` }),
        el('ul', { class: 'cascade' }, preview.removed.map((r) => el('li', { text: `${r.dataset} v${r.version}: ${r.partitions.length > 6 ? r.partitions.slice(0, 6).join(', ') + ` and ${r.partitions.length - 6} more` : r.partitions.join(', ')}` }))));
      const reason = await confirmAction('Invalidate?', list, { reason: true });
      if (reason === null) return;
      const done = await api(`/envs/${enc(env)}/invalidate`, { method: 'POST', body: { ...body, reason: reason || undefined } });
      note(main, `Invalidated ${done.instances} instance(s); trash ${done.trash_id || ''}. The rebuild starts by itself.`);
    },
  }, 'Invalidate…');
  const accept = inst.blocked ? el('button', {
    type: 'button',
    onclick: async () => {
      const reason = await confirmAction('Accept this instance?', el('p', { text: 'Consumers will read it although a blocking check failed. The acceptance is recorded with your name and reason.' }), { reason: true });
      if (!reason) return;
      await api(`/envs/${enc(env)}/accept`, { method: 'POST', body: { ...body, reason } });
      note(main, 'Accepted: consumers read it now.');
    },
  }, 'Accept…') : null;
  return el('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' }, invalidate, accept);
}

// ---- runs ----------------------------------------------------------------

function runsTable(page) {
  const keys = page.partitions || {};
  const rows = [
    ...page.running.map((c) => [el('a', { href: `#/run/${enc(c.run_id)}`, text: c.run_id.slice(0, 13) }), c.key.dataset, `v${c.key.version}`, keys[c.run_id] || c.key.partition, badge('running'), '', c.owner]),
    ...page.runs.map((r) => [el('a', { href: `#/run/${enc(r.run_id)}`, text: r.run_id.slice(0, 13) }), r.key.dataset, `v${r.key.version}`, keys[r.run_id] || r.key.partition, badge(r.state), dur(r.ended_at_ms - r.started_at_ms), r.error ? r.error.split('\n')[0].slice(0, 120) : when(r.ended_at_ms)]),
  ];
  if (!rows.length) return el('p', { class: 'muted', text: 'No runs.' });
  return table(['run', 'dataset', 'version', 'partition', 'state', 'took', 'ended / error'], rows);
}

async function runsPage(main, { params, state }) {
  const dataset = params.get('dataset') || '';
  const st = params.get('state') || '';
  const datasets = await api(`/envs/${enc(state.env)}/datasets`).catch(() => []);
  const go = (k, v) => { const p = new URLSearchParams(params); if (v) p.set(k, v); else p.delete(k); location.hash = `#/runs?${p}`; };
  main.append(el('h1', { text: 'Runs' }), el('div', { class: 'controls' },
    el('label', {}, 'Dataset ', el('select', { onchange: (e) => go('dataset', e.target.value) }, el('option', { value: '', text: 'all' }), datasets.map((d) => el('option', { value: d.name, selected: d.name === dataset, text: d.name })))),
    el('label', {}, 'State ', el('select', { onchange: (e) => go('state', e.target.value) }, ['', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => el('option', { value: s, selected: s === st, text: s || 'all' }))))));
  const host = el('div', { 'aria-live': 'polite' });
  const more = el('button', { type: 'button', text: 'Older runs' });
  main.append(host, more);
  let cursor = null;
  const q = () => { const p = new URLSearchParams({ limit: '100', env: state.env }); if (dataset) p.set('dataset', dataset); if (st) p.set('state', st); return p; };
  async function load() {
    const page = await api(`/runs?${q()}`);
    host.innerHTML = '';
    host.append(runsTable(page));
    cursor = page.next;
    more.hidden = !cursor;
  }
  more.onclick = async () => {
    const p = q(); p.set('cursor', cursor);
    const page = await api(`/runs?${p}`);
    host.append(runsTable({ ...page, running: [] }));
    cursor = page.next;
    more.hidden = !cursor;
  };
  await load();
  return onChange(() => load().catch(() => {}));
}

async function runPage(main, { parts }) {
  const id = decodeURIComponent(parts[1] || '');
  main.append(el('p', { class: 'crumbs' }, el('a', { href: '#/runs', text: '← runs' })), el('h1', { text: `Run ${id}` }));
  let rec = null;
  try { rec = await api(`/runs/${enc(id)}`); } catch (e) { if (e.status !== 404) throw e; }
  if (rec) {
    main.append(factList([
      ['dataset', rec.key.dataset], ['version', `v${rec.key.version}`], ['state', badge(rec.state)],
      ['started', when(rec.started_at_ms)], ['took', dur(rec.ended_at_ms - rec.started_at_ms)], ['error', rec.error || '—'],
    ]));
    if (rec.checks.length) main.append(el('h2', { text: 'Checks' }), table(['check', 'severity', 'status', 'detail'], rec.checks.map((c) => [c.name, c.severity, badge(c.status), c.detail])));
  } else {
    main.append(el('p', { class: 'muted', text: 'Running: its log follows below as it is written.' }));
  }
  const log = el('pre', { class: 'log', 'aria-label': 'Log', tabindex: '0' });
  main.append(el('h2', { text: 'Log' }), log);
  const ctl = new AbortController();
  stream(`/runs/${enc(id)}/log?follow=${rec ? 'false' : 'true'}`, (t) => {
    const end = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent += t;
    if (end) log.scrollTop = log.scrollHeight;
  }, ctl.signal).catch((e) => { if (e.name !== 'AbortError') log.textContent += `\n[${e.message}]`; });
  return () => ctl.abort();
}

// ---- lineage -------------------------------------------------------------

async function lineagePage(main, { state }) {
  const [datasets, status] = await Promise.all([api(`/envs/${enc(state.env)}/datasets`), api(`/envs/${enc(state.env)}/status`)]);
  const health = Object.fromEntries(status.map((s) => [s.dataset, s.failed ? 'F' : s.blocked ? 'B' : s.missing ? (s.running ? 'R' : 'D') : 'C']));
  main.append(el('h1', { text: 'Lineage' }), el('p', { class: 'help', text: 'Each dataset, coloured by health. Select one to see it, its inputs and its consumers in the grid.' }));
  const l = layout(datasets);
  main.append(drawLineage(l, health, (name) => {
    const d = datasets.find((x) => x.name === name);
    const near = [name, ...(d ? d.inputs.concat(d.consumers) : [])];
    location.hash = `#/?datasets=${enc(near.join(','))}`;
  }));
}

// ---- counters over time --------------------------------------------------

async function checksPage(main, { params, state }) {
  const datasets = await api(`/envs/${enc(state.env)}/datasets`);
  const dataset = params.get('dataset') || (datasets[1] || datasets[0] || {}).name;
  main.append(el('h1', { text: 'Counters and checks over time' }));
  if (!dataset) return;
  const series = await api(`/envs/${enc(state.env)}/datasets/${enc(dataset)}/counters`);
  const names = [...new Set(series.points.flatMap((p) => Object.keys(p.counters).concat(Object.keys(p.metrics || {}))))].sort();
  const name = params.get('counter') || (names.includes('rows_out') ? 'rows_out' : names[0]);
  const go = (k, v) => { const p = new URLSearchParams(params); p.set(k, v); if (k === 'dataset') p.delete('counter'); location.hash = `#/checks?${p}`; };
  main.append(el('div', { class: 'controls' },
    el('label', {}, 'Dataset ', el('select', { onchange: (e) => go('dataset', e.target.value) }, datasets.map((d) => el('option', { value: d.name, selected: d.name === dataset, text: d.name })))),
    el('label', {}, 'Counter or metric ', el('select', { onchange: (e) => go('counter', e.target.value) }, names.map((n) => el('option', { value: n, selected: n === name, text: n }))))));
  // The server says what each partition's checks said; the chart marks it.
  const markOf = (p) => (p.blocked ? 'blocked' : p.accepted ? 'accepted' : p.failing && p.failing.length ? 'warned' : undefined);
  const valueOf = (p) => (name in p.counters ? p.counters[name] : p.metrics && name in p.metrics ? p.metrics[name] : undefined);
  const points = series.points.map((p) => ({ x: p.partition, y: valueOf(p), mark: markOf(p), note: p.accepted || (p.failing || []).join(', ') }));
  main.append(lineChart(points, { title: `${dataset} v${series.version}: ${name}` }));
  main.append(table(['partition', name, 'checks'], points.slice().reverse().slice(0, 60).map((p) => [
    el('a', { href: `#/instance?env=${enc(state.env)}&dataset=${enc(dataset)}&partition=${enc(p.x)}`, text: p.x }),
    p.y === null ? 'NaN' : num(p.y),
    p.mark ? el('span', {}, badge(p.mark), ` ${p.note}`) : 'pass'])));
}

// ---- models: selectors, their splits and the variants' measures ----------

// A share of the split bar: its width through the CSSOM (the CSP refuses
// style attributes).
function share(span, percent) {
  span.style.width = `${percent}%`;
  return span;
}

async function modelsPage(main, { state }) {
  const env = state.env;
  const selectors = await api(`/envs/${enc(env)}/selectors`);
  main.append(el('h1', { text: `Models in ${env}` }));
  if (!selectors.length) {
    main.append(el('p', {}, 'No selectors: declare ', el('code', { text: '[selectors.NAME]' }), ' in weir.toml to choose between model variants at run time.'));
    return;
  }
  for (const s of selectors) {
    const section = el('section', { class: 'selector', 'data-selector': s.selector });
    main.append(section);
    const order = s.variants.map((v) => v.variant);
    section.append(el('h2', { text: `Selector ${s.selector}` }),
      el('p', {}, `Assigns each ${s.unit}; `, s.log ? el('span', {}, 'selections are logged into ', el('a', { href: `#/?datasets=${enc(s.log)}`, text: s.log })) : 'selections are not logged', '.'),
      el('div', { class: 'split', role: 'img', 'aria-label': `split ${order.map((v) => `${v} ${s.split[v]}%`).join(', ')}` },
        order.map((v, k) => (s.split[v] ? share(el('span', { class: `v${k % 6}`, text: `${v} ${s.split[v]}%` }), s.split[v]) : null))),
      table(['variant', 'share', 'dataset', 'serves', 'artifact'], s.variants.map((v) => [
        v.variant, `${v.share}%`,
        el('a', { href: `#/checks?dataset=${enc(v.dataset)}`, text: v.dataset }),
        v.version ? `v${v.version}${v.partition ? ` ${v.partition}` : ' (nothing readable)'}` : 'nothing yet',
        v.artifact || '—'])));
    const [report, measures] = await Promise.all([
      api(`/envs/${enc(env)}/selectors/${enc(s.selector)}`),
      api(`/envs/${enc(env)}/selectors/${enc(s.selector)}/measures?days=60`, { quiet: true }).catch(() => null),
    ]);
    if (measures && measures.days.length) {
      section.append(el('h3', { text: `${measures.dataset} v${measures.version} per variant` }));
      const labels = measures.days.map((d) => d.partition);
      const seen = [...new Set(measures.days.flatMap((d) => Object.keys(d.variants)))];
      const variants = order.concat(seen.filter((v) => !order.includes(v)));
      for (const col of measures.columns) {
        const series = variants.map((v) => ({ name: v, values: measures.days.map((d) => (d.variants[v] ? d.variants[v][col] : null)) }));
        if (!series.some((x) => x.values.some((y) => typeof y === 'number'))) continue;
        const chart = multiLineChart(labels, series, { title: col === measures.metric ? `${col} (auto-promotion's metric)` : col });
        chart.setAttribute('data-column', col);
        section.append(chart);
      }
    } else if (report.auto) {
      section.append(el('p', { text: `${report.auto.dataset} serves nothing yet.` }));
    }
    if (report.auto) {
      const a = report.auto;
      section.append(el('p', { text: `Auto-promotion: when a variant beats every other on ${a.metric} by ${(a.min_lift * 100).toFixed(1)}% for ${a.days} consecutive days (≥ ${a.min_units} units each), it gets ${a.to}%.` }));
    }
    section.append(el('h3', { text: 'History of the split' }),
      report.history.length
        ? table(['#', 'when', 'kind', 'by', 'split', 'why'], report.history.slice().reverse().map((h) => [
          String(h.seq), when(h.at_ms), h.kind, h.by, Object.entries(h.split).map(([v, w]) => `${v}=${w}`).join(', '), h.reason || '']))
        : el('p', { text: `The declared split (${Object.entries(report.declared).map(([v, w]) => `${v}=${w}`).join(', ')}), never changed.` }));
  }
  return onChange(() => {});
}

// ---- environments --------------------------------------------------------

async function envsPage(main, { state }) {
  const env = state.env;
  const [deploys, aliases] = await Promise.all([api(`/envs/${enc(env)}/deployments`), api(`/envs/${enc(env)}/aliases`)]);
  main.append(el('h1', { text: `Environment ${env}` }));
  const others = state.envs.filter((e) => e !== env);
  if (canOperate()) {
    main.append(el('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' },
      others.map((to) => el('button', {
        type: 'button',
        onclick: async () => {
          const ok = await confirmAction(`Promote ${env} into ${to}?`, el('p', { text: `${to}'s aliases switch to the versions ${env} serves, dataset by dataset, where they are complete.` }));
          if (ok === null) return;
          const r = await api(`/envs/${enc(env)}/promote`, { method: 'POST', body: { to } });
          note(main, `Promoted into ${to}: ${r.aliases.moves.length} alias(es) moved${r.pending.length ? `; waiting for ${r.pending.join(', ')}` : ''}.`);
        },
      }, `Promote into ${to}…`))));
  }
  main.append(el('h2', { text: 'Serving aliases' }), table(['dataset', 'serves', 'pinned', 'since', ''], aliases.map((a) => [
    a.dataset, `v${a.version}`, a.pinned ? 'pinned' : '', when(a.updated_at_ms),
    el('span', {},
      el('button', { type: 'button', class: 'link', onclick: (e) => history_(e.target, env, a.dataset), text: 'history' }),
      canOperate() ? el('button', {
        type: 'button', class: 'link danger', 'data-revert': a.dataset,
        onclick: async () => {
          const reason = await confirmAction(`Revert ${a.dataset} in ${env}?`, el('p', { text: `The alias goes back to the version it served before v${a.version}.` }), { reason: true });
          if (reason === null) return;
          const r = await api(`/envs/${enc(env)}/revert`, { method: 'POST', body: { datasets: [a.dataset], reason: reason || undefined } });
          note(main, r.moves.map((m) => `${m.dataset}: v${m.from_version ?? '—'} → v${m.to_version}`).join('; ') || 'Nothing to revert.');
        },
      }, 'revert') : null)])));
  main.append(el('h2', { text: 'Deployments' }), table(['#', 'when', 'message', 'versions'], deploys.slice().reverse().map((d) => [
    String(d.seq), when(d.deployed_at_ms), d.message || '', Object.entries(d.versions).map(([k, v]) => `${k} v${v}`).join(', ')])));
  if (others.length) {
    const pick = el('select', { 'aria-label': 'Environment to compare with' }, others.map((o) => el('option', { value: o, text: o })));
    const out = el('div', { 'aria-live': 'polite' });
    main.append(el('h2', { text: 'Compare' }), el('div', { class: 'controls' }, `${env} against `, pick,
      el('button', { type: 'button', text: 'Diff', onclick: async () => { out.innerHTML = ''; out.append(diffView(await api(`/diff?a=${enc(env)}&b=${enc(pick.value)}`))); } })), out);
  }
}

async function history_(button, env, dataset) {
  const h = await api(`/envs/${enc(env)}/aliases/${enc(dataset)}/history`);
  button.replaceWith(el('div', {}, table(['when', 'from', 'to', 'kind', 'why'], h.map((m) => [when(m.at_ms), m.from_version ? `v${m.from_version}` : '—', `v${m.to_version}`, m.kind, m.reason || '']))));
}

function diffView(diffs) {
  if (!diffs.length) return el('p', { class: 'muted', text: 'No differences.' });
  return el('div', {}, diffs.map((d) => el('section', { class: 'diff' },
    el('h3', {}, `${d.dataset}: v${d.version_a} against v${d.version_b} `, el('span', { class: 'muted', text: d.shared ? '(one version, shared)' : '(parallel versions)' })),
    el('p', { class: 'muted', text: `${d.only_in_a} partition(s) only in a, ${d.only_in_b} only in b` }),
    d.partitions.length ? table(['partition', 'rows a', 'rows b', 'Δ rows', 'counters that differ', 'blocked', 'changed rows'], d.partitions.slice(0, 100).map((p) => [
      p.partition, num(p.rows_a), num(p.rows_b),
      p.rows_a !== null && p.rows_b !== null ? (p.rows_b - p.rows_a >= 0 ? '+' : '') + num(p.rows_b - p.rows_a) : '—',
      Object.entries(p.counters).map(([k, [a, b]]) => `${k}: ${num(a)} → ${num(b)}`).join('; '),
      `${p.blocked_a ? 'a ' : ''}${p.blocked_b ? 'b' : ''}` || 'no',
      p.data ? el('code', { text: JSON.stringify(p.data).slice(0, 300) }) : '',
    ])) : null)));
}

// ---- the life of an error ------------------------------------------------

async function errorPage(main, { state }) {
  const env = state.env;
  main.append(el('h1', { text: 'The life of an error' }),
    el('ol', { class: 'steps' },
      el('li', { text: 'Revert: serve the last good version again.' }),
      el('li', { text: 'Fix the code and deploy it: a new version appears beside the old one.' }),
      el('li', { text: 'Invalidate the faulty instances and what was derived from them (with a preview).' }),
      el('li', { text: 'Watch the rebuild fill the grid by itself.' })));
  const status = await api(`/envs/${enc(env)}/status`);
  const troubled = status.filter((s) => s.failed || s.blocked);
  if (!troubled.length) {
    main.append(el('p', { class: 'ok', text: `Nothing in ${env} is failed or blocked now.` }));
  } else {
    main.append(el('h2', { text: 'Failed or blocked now' }), table(['dataset', 'version', 'failed', 'blocked', ''], troubled.map((s) => [
      s.dataset, `v${s.version}`, String(s.failed), String(s.blocked),
      el('a', { href: `#/?datasets=${enc(s.dataset)}`, text: 'see in the grid' })])));
  }
  const aliases = await api(`/envs/${enc(env)}/aliases`);
  main.append(el('h2', { text: '1. Revert' }), el('p', { class: 'help', text: 'Each alias can go back to the version it served before. Consumers read the old version at once.' }),
    aliases.length ? table(['dataset', 'serves', ''], aliases.map((a) => [a.dataset, `v${a.version}`,
      canOperate() ? el('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          const reason = await confirmAction(`Revert ${a.dataset}?`, el('p', { text: `${env} goes back to the version ${a.dataset} served before v${a.version}.` }), { reason: true });
          if (reason === null) return;
          const r = await api(`/envs/${enc(env)}/revert`, { method: 'POST', body: { datasets: [a.dataset], reason: reason || undefined } });
          note(main, r.moves.map((m) => `${m.dataset}: now v${m.to_version}`).join('; ') || 'Nothing to revert.');
        },
      }, `Revert ${a.dataset}`) : 'needs an operator'])) : el('p', { class: 'muted', text: 'No aliases yet.' }));
  const deploys = await api(`/envs/${enc(env)}/deployments`);
  const last = deploys[deploys.length - 1];
  main.append(el('h2', { text: '2. Fix and deploy' }), el('p', {}, 'Fix the code, then `weir deploy` (or POST /api/v1/envs/…/deploy). The newest deployment here: ',
    last ? el('strong', { text: `#${last.seq} at ${when(last.deployed_at_ms)}${last.message ? ` (${last.message})` : ''}` } ) : 'none'));
  main.append(el('h2', { text: '3. Invalidate' }), el('p', {}, 'Open a faulty partition from the grid and choose Invalidate: the preview lists every instance derived from it before anything moves.'));
  main.append(el('h2', { text: '4. Rebuild' }), el('p', {}, 'The scheduler rebuilds what is missing. The grid updates live: ', el('a', { href: '#/', text: 'watch it' }), '.'));
  return onChange(() => {});
}

export async function notFound(main) {
  main.append(el('h1', { text: 'No such page' }), el('p', {}, el('a', { href: '#/', text: 'Back to the grid' })));
}

export const routes = {
  login: loginPage,
  grid: gridPage,
  '': gridPage,
  instance: instancePage,
  runs: runsPage,
  run: runPage,
  lineage: lineagePage,
  checks: checksPage,
  models: modelsPage,
  envs: envsPage,
  error: errorPage,
};
