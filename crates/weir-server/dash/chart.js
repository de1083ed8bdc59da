// Line charts as SVG: a value per partition, with axes and ticks, and the
// partitions whose checks failed or blocked marked with their own shapes.

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/// Round tick values between `lo` and `hi` (about `n` of them).
export function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v) => (Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : Math.abs(v) >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : String(v));

/// The SVG, its title, y ticks and grid lines, x labels and axes for values
/// `ys` over `labels`; `x(i)` and `y(v)` place a point. `empty` when there
/// is no value to draw.
function frame(labels, ys, { title, width, height }) {
  const m = { l: 64, r: 16, t: 28, b: 56 };
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart' });
  root.append(svg('title', {}, title));
  root.append(svg('text', { x: m.l, y: 18, class: 'charttitle' }, title));
  const finite = ys.filter((y) => typeof y === 'number' && Number.isFinite(y));
  if (!finite.length) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, 'no values'));
    return { root, empty: true };
  }
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.08;
  lo = Math.max(lo > 0 && lo - pad < 0 ? 0 : lo - pad, lo - pad);
  hi += pad;
  const W = width - m.l - m.r, H = height - m.t - m.b;
  const x = (i) => m.l + (labels.length === 1 ? W / 2 : (i * W) / (labels.length - 1));
  const y = (v) => m.t + H - ((v - lo) / (hi - lo)) * H;
  for (const t of ticks(lo, hi)) {
    root.append(svg('line', { x1: m.l, x2: m.l + W, y1: y(t), y2: y(t), class: 'gridline' }));
    root.append(svg('text', { x: m.l - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(Number(t.toPrecision(6)))));
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((l, i) => {
    if (i % every) return;
    const anchor = labels.length === 1 ? 'middle' : i === 0 ? 'start' : i === labels.length - 1 ? 'end' : 'middle';
    root.append(svg('text', { x: x(i), y: m.t + H + 16, 'text-anchor': anchor, class: 'tick' }, String(l).replace(/^[a-z]+=/, '')));
  });
  root.append(svg('line', { x1: m.l, x2: m.l + W, y1: m.t + H, y2: m.t + H, class: 'axis' }));
  root.append(svg('line', { x1: m.l, x2: m.l, y1: m.t, y2: m.t + H, class: 'axis' }));
  return { root, x, y, m };
}

/// `points`: [{x: label, y: number, mark?: 'failed'|'blocked'|'accepted'|'warned', note?}].
export function lineChart(points, { title = '', width = 900, height = 300 } = {}) {
  const { root, x, y, m, empty } = frame(points.map((p) => p.x), points.map((p) => p.y), { title, width, height });
  if (empty) return root;
  let d = '';
  points.forEach((p, i) => {
    if (typeof p.y !== 'number') return;
    d += `${d ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.y).toFixed(1)}`;
  });
  root.append(svg('path', { d, class: 'series' }));
  points.forEach((p, i) => {
    if (typeof p.y !== 'number') return;
    const cx = x(i), cy = y(p.y);
    const g = svg('g', { class: `pt ${p.mark || ''}`, tabindex: p.mark ? 0 : -1 });
    g.append(svg('title', {}, `${p.x}: ${p.y}${p.mark ? ` (${p.mark}${p.note ? `: ${p.note}` : ''})` : ''}`));
    if (p.mark === 'accepted') {
      g.append(svg('circle', { cx, cy, r: 6, class: 'mark-accepted' }));
      g.append(svg('path', { d: `M${cx - 3},${cy}L${cx - 1},${cy + 3}L${cx + 3},${cy - 3}`, class: 'mark-accepted-tick' }));
    } else if (p.mark === 'failed') g.append(svg('path', { d: `M${cx - 5},${cy - 5}L${cx + 5},${cy + 5}M${cx + 5},${cy - 5}L${cx - 5},${cy + 5}`, class: 'mark-failed' }));
    else if (p.mark === 'blocked') g.append(svg('rect', { x: cx - 5, y: cy - 5, width: 10, height: 10, class: 'mark-blocked' }));
    else if (p.mark === 'warned') g.append(svg('path', { d: `M${cx},${cy - 6}L${cx + 6},${cy + 5}L${cx - 6},${cy + 5}Z`, class: 'mark-warned' }));
    else g.append(svg('circle', { cx, cy, r: 3, class: 'dot' }));
    root.append(g);
  });
  const keyY = height - 12;
  [['blocked', 'blocked by a check'], ['accepted', 'accepted (annotated)'], ['warned', 'a warning check failed']].forEach(([k, label], i) => {
    const kx = m.l + i * 200;
    const g = svg('g', { class: `pt ${k}` });
    if (k === 'accepted') {
      g.append(svg('circle', { cx: kx, cy: keyY, r: 6, class: 'mark-accepted' }));
      g.append(svg('path', { d: `M${kx - 3},${keyY}L${kx - 1},${keyY + 3}L${kx + 3},${keyY - 3}`, class: 'mark-accepted-tick' }));
    } else if (k === 'failed') g.append(svg('path', { d: `M${kx - 5},${keyY - 5}L${kx + 5},${keyY + 5}M${kx + 5},${keyY - 5}L${kx - 5},${keyY + 5}`, class: 'mark-failed' }));
    else if (k === 'blocked') g.append(svg('rect', { x: kx - 5, y: keyY - 5, width: 10, height: 10, class: 'mark-blocked' }));
    else g.append(svg('path', { d: `M${kx},${keyY - 6}L${kx + 6},${keyY + 5}L${kx - 6},${keyY + 5}Z`, class: 'mark-warned' }));
    g.append(svg('text', { x: kx + 10, y: keyY + 4, class: 'tick' }, label));
    root.append(g);
  });
  return root;
}

/// Several series over the same x labels, a line and a shape each, with a
/// legend: `series` is [{name, values: [number|null per label]}].
export function multiLineChart(labels, series, { title = '', width = 900, height = 280 } = {}) {
  const { root, x, y, m, empty } = frame(labels, series.flatMap((s) => s.values), { title, width, height });
  if (empty) return root;
  // Each series has its own colour and its own point shape, so it reads
  // without colour too.
  const shape = (k, cx, cy) => [
    () => svg('circle', { cx, cy, r: 4 }),
    () => svg('rect', { x: cx - 4, y: cy - 4, width: 8, height: 8 }),
    () => svg('path', { d: `M${cx},${cy - 5}L${cx + 5},${cy + 4}L${cx - 5},${cy + 4}Z` }),
    () => svg('path', { d: `M${cx},${cy - 5}L${cx + 5},${cy}L${cx},${cy + 5}L${cx - 5},${cy}Z` }),
  ][k % 4]();
  series.forEach((s, k) => {
    const g = svg('g', { class: `variant v${k % 6}`, 'data-series': s.name });
    let d = '';
    s.values.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return;
      d += `${d ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    g.append(svg('path', { d, class: 'line' }));
    s.values.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return;
      const p = shape(k, x(i), y(v));
      p.setAttribute('class', 'pt');
      p.append(svg('title', {}, `${s.name}, ${labels[i]}: ${Number(v.toPrecision(6))}`));
      g.append(p);
    });
    const kx = m.l + k * 160, ky = height - 12;
    const key = shape(k, kx, ky);
    key.setAttribute('class', 'pt');
    g.append(key, svg('text', { x: kx + 10, y: ky + 4, class: 'tick' }, s.name));
    root.append(g);
  });
  return root;
}
