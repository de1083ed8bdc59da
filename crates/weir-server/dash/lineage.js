// The dataset DAG, laid out in layers (a Sugiyama-style layout: longest-path
// layers, then barycentre ordering to cut crossings), drawn as SVG.
import { STATES } from '/assets/grid.js';

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 180, NODE_H = 34, GAP_X = 80, GAP_Y = 22;

/// `datasets`: [{name, inputs}] → {nodes: [{name, layer, order, x, y}], edges}.
export function layout(datasets) {
  const by = new Map(datasets.map((d) => [d.name, d]));
  const layer = new Map();
  const depth = (name, seen = new Set()) => {
    if (layer.has(name)) return layer.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const d = by.get(name);
    const l = d && d.inputs.length ? 1 + Math.max(...d.inputs.filter((i) => by.has(i)).map((i) => depth(i, seen)), -1) : 0;
    layer.set(name, l);
    return l;
  };
  for (const d of datasets) depth(d.name);
  const layers = [];
  for (const d of datasets) (layers[layer.get(d.name)] ||= []).push(d.name);
  const pos = new Map();
  const place = () => layers.forEach((names, l) => names.forEach((n, i) => pos.set(n, { layer: l, order: i })));
  place();
  const edges = datasets.flatMap((d) => d.inputs.filter((i) => by.has(i)).map((i) => [i, d.name]));
  const ups = new Map(datasets.map((d) => [d.name, d.inputs.filter((i) => by.has(i))]));
  const downs = new Map(datasets.map((d) => [d.name, []]));
  for (const [a, b] of edges) downs.get(a).push(b);
  const bary = (names, nb) => names.map((n) => {
    const ns = nb.get(n);
    return [n, ns.length ? ns.reduce((s, m) => s + pos.get(m).order, 0) / ns.length : pos.get(n).order];
  }).sort((a, b) => a[1] - b[1]).map(([n]) => n);
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let l = 1; l < layers.length; l++) { layers[l] = bary(layers[l], ups); place(); }
    for (let l = layers.length - 2; l >= 0; l--) { layers[l] = bary(layers[l], downs); place(); }
  }
  const tallest = Math.max(1, ...layers.map((n) => (n ? n.length : 0)));
  const nodes = [];
  layers.forEach((names, l) => (names || []).forEach((n, i) => {
    const offset = ((tallest - names.length) * (NODE_H + GAP_Y)) / 2;
    nodes.push({ name: n, layer: l, x: 10 + l * (NODE_W + GAP_X), y: 10 + offset + i * (NODE_H + GAP_Y) });
  }));
  return { nodes, edges, width: 20 + layers.length * (NODE_W + GAP_X) - GAP_X, height: 20 + tallest * (NODE_H + GAP_Y) - GAP_Y };
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/// The SVG of layout `l`, each node coloured (and named) by `health[name]`,
/// a state code; `open(name)` on click or Enter.
export function drawLineage(l, health, open) {
  const root = svg('svg', { width: l.width, height: l.height, viewBox: `0 0 ${l.width} ${l.height}`, role: 'group', 'aria-label': 'Dataset lineage', class: 'lineage' });
  const at = new Map(l.nodes.map((n) => [n.name, n]));
  for (const [a, b] of l.edges) {
    const p = at.get(a), q = at.get(b);
    const x1 = p.x + NODE_W, y1 = p.y + NODE_H / 2, x2 = q.x, y2 = q.y + NODE_H / 2, mx = (x1 + x2) / 2;
    root.append(svg('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`, class: 'edge', 'marker-end': 'url(#arrow)' }));
  }
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 5, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }));
  defs.append(marker);
  root.prepend(defs);
  for (const n of l.nodes) {
    const code = health[n.name] || 'N';
    const state = STATES[code];
    const g = svg('g', { class: `node h-${code}`, tabindex: 0, role: 'link', 'aria-label': `${n.name}: ${state.name}`, transform: `translate(${n.x},${n.y})` });
    const title = svg('title');
    title.textContent = `${n.name}: ${state.name}`;
    g.append(title, svg('rect', { width: NODE_W, height: NODE_H, rx: 6, fill: state.color }));
    const t = svg('text', { x: 10, y: NODE_H / 2 + 4 });
    t.textContent = `${n.name.length > 20 ? n.name.slice(0, 19) + '…' : n.name}`;
    const s = svg('text', { x: NODE_W - 8, y: NODE_H / 2 + 4, 'text-anchor': 'end', class: 'state' });
    s.textContent = state.name;
    g.append(t, s);
    g.addEventListener('click', () => open(n.name));
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(n.name); } });
    root.append(g);
  }
  const wrap = document.createElement('div');
  wrap.className = 'lineagewrap';
  wrap.append(root);
  return wrap;
}
