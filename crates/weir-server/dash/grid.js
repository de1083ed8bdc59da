// The status grid: datasets × time on a canvas that draws only what is in
// view, so a grid of millions of cells scrolls smoothly. Every state has a
// colour and a glyph (colour is never the only signal), and a name on hover
// or keyboard focus.

export const STATES = {
  F: { name: 'failed', color: '#c92a2a', glyph: 'x' },
  B: { name: 'blocked', color: '#e8590c', glyph: 'slash' },
  L: { name: 'late', color: '#7048e8', glyph: 'ring' },
  W: { name: 'waiting', color: '#fcc419', glyph: 'box' },
  H: { name: 'held', color: '#adb5bd', glyph: 'bar' },
  D: { name: 'due', color: '#a5d8ff', glyph: 'dot' },
  R: { name: 'running', color: '#1971c2', glyph: 'play' },
  P: { name: 'paused', color: '#495057', glyph: 'pause' },
  I: { name: 'invalidated', color: '#ffffff', glyph: 'hatch' },
  C: { name: 'complete', color: '#2f9e44', glyph: 'none' },
  N: { name: 'not due', color: '#f1f3f5', glyph: 'none' },
};

/// A state's name (as the API spells it) to its letter.
const SNAPSHOT = Object.fromEntries(Object.entries(STATES).map(([code, s]) => [s.name.replace(' ', '_'), code]));

const LABEL_W = 280;
const HEAD_H = 36;
const ROW_H = 20;

/// Draws the glyph of state `code` in the box (x, y, w, h).
export function drawCell(ctx, code, x, y, w, h) {
  const s = STATES[code];
  if (!s) return;
  ctx.fillStyle = s.color;
  ctx.fillRect(x, y, w, h);
  if (code === 'I') {
    ctx.strokeStyle = '#868e96';
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
  }
  if (w < 7 || h < 7) return;
  const cx = x + w / 2, cy = y + h / 2, r = Math.min(w, h) / 2 - 2;
  const ink = code === 'W' || code === 'D' || code === 'H' ? '#212529' : '#ffffff';
  ctx.strokeStyle = code === 'I' ? '#868e96' : ink;
  ctx.fillStyle = ink;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  switch (s.glyph) {
    case 'x':
      ctx.moveTo(cx - r, cy - r); ctx.lineTo(cx + r, cy + r);
      ctx.moveTo(cx + r, cy - r); ctx.lineTo(cx - r, cy + r);
      ctx.stroke();
      break;
    case 'slash':
      ctx.moveTo(x + 1, y + h - 1); ctx.lineTo(x + w - 1, y + 1);
      ctx.stroke();
      break;
    case 'ring':
      ctx.arc(cx, cy, r, 0, Math.PI * 2);
      ctx.stroke();
      break;
    case 'box':
      ctx.strokeRect(cx - r + 0.5, cy - r + 0.5, 2 * r - 1, 2 * r - 1);
      break;
    case 'bar':
      ctx.fillRect(cx - r, cy - 1, 2 * r, 2);
      break;
    case 'dot':
      ctx.arc(cx, cy, Math.max(1.5, r / 2), 0, Math.PI * 2);
      ctx.fill();
      break;
    case 'play':
      ctx.moveTo(cx - r / 1.5, cy - r); ctx.lineTo(cx + r, cy); ctx.lineTo(cx - r / 1.5, cy + r);
      ctx.closePath(); ctx.fill();
      break;
    case 'pause':
      ctx.fillRect(cx - r / 1.3, cy - r, r / 2, 2 * r);
      ctx.fillRect(cx + r / 4, cy - r, r / 2, 2 * r);
      break;
    case 'hatch':
      ctx.moveTo(x, y + h / 2); ctx.lineTo(x + w / 2, y);
      ctx.moveTo(x, y + h); ctx.lineTo(x + w, y);
      ctx.moveTo(x + w / 2, y + h); ctx.lineTo(x + w, y + h / 2);
      ctx.stroke();
      break;
    default:
  }
}

function columnLabel(zoom, t) {
  const d = new Date(t);
  const iso = d.toISOString();
  switch (zoom) {
    case 'minute': return iso.slice(14, 16) === '00' ? iso.slice(11, 13) + 'h' : iso.slice(14, 16);
    case 'hour': return iso.slice(11, 13) === '00' ? iso.slice(5, 10) : iso.slice(11, 13) + 'h';
    case 'month': return iso.slice(0, 7);
    default: return iso.slice(0, 10);
  }
}

export class Grid {
  /// `el`: the element to fill. `hooks.open(row, col)` opens a cell;
  /// `hooks.detail(row, col)` resolves the text of a cell (counts, reason).
  constructor(el, hooks) {
    this.hooks = hooks;
    this.rows = [];
    this.columns = [];
    this.zoom = 'day';
    this.focus = { row: 0, col: 0 };
    this.hover = null;
    el.innerHTML = '';
    this.scroll = document.createElement('div');
    this.scroll.className = 'gridscroll';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'gridcanvas';
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'grid');
    this.canvas.setAttribute('aria-label', 'Status grid: arrow keys move, Enter opens');
    this.spacer = document.createElement('div');
    this.spacer.className = 'gridspacer';
    this.scroll.append(this.canvas, this.spacer);
    el.append(this.scroll);
    this.tip = document.getElementById('tip');
    this.announce = document.getElementById('announce');
    this.frame = 0;
    this.scroll.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.layout()).observe(this.scroll);
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => { this.hover = null; this.hideTip(); this.schedule(); });
    this.canvas.addEventListener('click', (e) => {
      const c = this.at(e);
      if (c) { this.focus = c; this.hooks.open(this.rows[c.row], c.col); }
    });
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.canvas.addEventListener('focus', () => this.showFocus());
    this.canvas.addEventListener('blur', () => { this.hideTip(); this.schedule(); });
  }

  set(grid) {
    this.rows = grid.rows;
    this.columns = grid.columns;
    this.until = grid.until;
    this.zoom = grid.zoom;
    this.focus.row = Math.min(this.focus.row, Math.max(0, this.rows.length - 1));
    this.focus.col = Math.min(this.focus.col, Math.max(0, this.columns.length - 1));
    this.layout();
  }

  layout() {
    const w = this.scroll.clientWidth, h = this.scroll.clientHeight;
    const avail = Math.max(50, w - LABEL_W - 16);
    this.cw = Math.max(8, Math.min(22, Math.floor(avail / Math.max(1, this.columns.length))));
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.floor(w * dpr);
    this.canvas.height = Math.floor(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.spacer.style.width = `${LABEL_W + this.columns.length * this.cw}px`;
    this.spacer.style.height = `${HEAD_H + this.rows.length * ROW_H}px`;
    this.spacer.style.marginTop = `-${h}px`;
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  /// The first column's start of `col`, and the next one's (or the end).
  span(col) {
    return [this.columns[col], this.columns[col + 1] || this.until];
  }

  draw() {
    const ctx = this.canvas.getContext('2d');
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.width / dpr, h = this.canvas.height / dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, w, h);
    const sx = this.scroll.scrollLeft, sy = this.scroll.scrollTop;
    const cw = this.cw;
    const c0 = Math.max(0, Math.floor(sx / cw));
    const c1 = Math.min(this.columns.length, Math.ceil((sx + w - LABEL_W) / cw) + 1);
    const r0 = Math.max(0, Math.floor(sy / ROW_H));
    const r1 = Math.min(this.rows.length, Math.ceil((sy + h - HEAD_H) / ROW_H) + 1);
    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, HEAD_H, w - LABEL_W, h - HEAD_H);
    ctx.clip();
    for (let r = r0; r < r1; r++) {
      const row = this.rows[r];
      const y = HEAD_H + r * ROW_H - sy;
      const states = row.states;
      for (let c = c0; c < c1; c++) {
        const code = states.charCodeAt(c);
        if (code === 45 /* - */) continue;
        drawCell(ctx, states[c], LABEL_W + c * cw - sx + 1, y + 2, cw - 2, ROW_H - 4);
      }
    }
    const mark = (cell, color) => {
      if (!cell) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.strokeRect(LABEL_W + cell.col * cw - sx, HEAD_H + cell.row * ROW_H - sy + 1, cw, ROW_H - 2);
    };
    mark(this.hover, '#343a40');
    if (document.activeElement === this.canvas) mark(this.focus, '#f03e3e');
    ctx.restore();
    // Column heads.
    ctx.fillStyle = '#f8f9fa';
    ctx.fillRect(LABEL_W, 0, w - LABEL_W, HEAD_H);
    ctx.fillStyle = '#495057';
    ctx.font = '11px system-ui, sans-serif';
    const every = Math.max(1, Math.ceil(78 / cw));
    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, 0, w - LABEL_W, HEAD_H);
    ctx.clip();
    for (let c = c0 - (c0 % every); c < c1; c += every) {
      const x = LABEL_W + c * cw - sx;
      ctx.fillRect(x, HEAD_H - 8, 1, 8);
      ctx.fillText(columnLabel(this.zoom, this.columns[c]), x + 3, HEAD_H - 12);
    }
    ctx.restore();
    // Row labels: the dataset, the version built, the version served.
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, HEAD_H, LABEL_W, h - HEAD_H);
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, HEAD_H, LABEL_W, h - HEAD_H);
    ctx.clip();
    for (let r = r0; r < r1; r++) {
      const row = this.rows[r];
      const y = HEAD_H + r * ROW_H - sy;
      if (r === this.focus.row && document.activeElement === this.canvas) {
        ctx.fillStyle = '#fff5f5';
        ctx.fillRect(0, y, LABEL_W, ROW_H);
      }
      ctx.fillStyle = row.env2 ? '#6c757d' : '#212529';
      ctx.font = row.env2 ? 'italic 12px system-ui, sans-serif' : '600 12px system-ui, sans-serif';
      const name = row.env2 ? `  ↳ ${row.env2}` : row.dataset;
      ctx.fillText(name.length > 26 ? name.slice(0, 25) + '…' : name, 6, y + 14);
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillStyle = '#495057';
      ctx.fillText(rowBadge(row), 190, y + 14);
      // A snapshot dataset has one instance: its state beside its name.
      if (row.snapshot) drawCell(ctx, SNAPSHOT[row.snapshot], LABEL_W - 20, y + 3, 14, 14);
    }
    ctx.restore();
    ctx.fillStyle = '#f8f9fa';
    ctx.fillRect(0, 0, LABEL_W, HEAD_H);
    ctx.fillStyle = '#495057';
    ctx.font = '600 11px system-ui, sans-serif';
    ctx.fillText('dataset', 6, HEAD_H - 12);
    ctx.fillText('built · serves', 190, HEAD_H - 12);
    if (!this.painted && this.rows.length) {
      // The first grid on screen: what the dashboard benchmark measures.
      this.painted = true;
      performance.mark('weir-grid-painted');
    }
  }

  at(e) {
    const rect = this.canvas.getBoundingClientRect();
    const x = e.clientX - rect.left, y = e.clientY - rect.top;
    if (x < LABEL_W || y < HEAD_H) return null;
    const col = Math.floor((x - LABEL_W + this.scroll.scrollLeft) / this.cw);
    const row = Math.floor((y - HEAD_H + this.scroll.scrollTop) / ROW_H);
    if (row < 0 || row >= this.rows.length || col < 0 || col >= this.columns.length) return null;
    return { row, col };
  }

  text(cell) {
    const row = this.rows[cell.row];
    if (row.snapshot) return `${row.dataset} · all · ${row.snapshot.replace('_', ' ')}`;
    const code = row.states[cell.col];
    const state = STATES[code] ? STATES[code].name : 'no partition';
    const who = row.env2 ? `${row.dataset} (${row.env2})` : row.dataset;
    return `${who} · ${columnLabel(this.zoom, this.columns[cell.col])} · ${state}`;
  }

  onMove(e) {
    const c = this.at(e);
    if (!c) { this.hover = null; this.hideTip(); this.schedule(); return; }
    if (this.hover && this.hover.row === c.row && this.hover.col === c.col) {
      this.placeTip(e.clientX, e.clientY);
      return;
    }
    this.hover = c;
    this.schedule();
    this.showTip(c, e.clientX, e.clientY);
  }

  showTip(cell, x, y) {
    this.tip.textContent = this.text(cell);
    this.tip.hidden = false;
    this.placeTip(x, y);
    const key = `${cell.row}:${cell.col}`;
    this.tipKey = key;
    clearTimeout(this.tipTimer);
    this.tipTimer = setTimeout(async () => {
      const more = await this.hooks.detail(this.rows[cell.row], cell.col).catch(() => '');
      if (this.tipKey === key && more) this.tip.textContent = `${this.text(cell)}\n${more}`;
    }, 120);
  }

  placeTip(x, y) {
    this.tip.style.left = `${Math.min(x + 14, window.innerWidth - 340)}px`;
    this.tip.style.top = `${y + 16}px`;
  }

  hideTip() {
    this.tipKey = null;
    this.tip.hidden = true;
  }

  showFocus() {
    if (!this.rows.length) return;
    const f = this.focus;
    // Keep the focused cell in view.
    const x = f.col * this.cw, y = f.row * ROW_H;
    const vw = this.scroll.clientWidth - LABEL_W, vh = this.scroll.clientHeight - HEAD_H;
    if (x < this.scroll.scrollLeft) this.scroll.scrollLeft = x;
    else if (x + this.cw > this.scroll.scrollLeft + vw) this.scroll.scrollLeft = x + this.cw - vw;
    if (y < this.scroll.scrollTop) this.scroll.scrollTop = y;
    else if (y + ROW_H > this.scroll.scrollTop + vh) this.scroll.scrollTop = y + ROW_H - vh;
    this.announce.textContent = this.text(f);
    const rect = this.canvas.getBoundingClientRect();
    this.showTip(f, rect.left + LABEL_W + x - this.scroll.scrollLeft, rect.top + HEAD_H + y - this.scroll.scrollTop);
    this.schedule();
  }

  onKey(e) {
    const f = this.focus;
    const page = Math.max(1, Math.floor((this.scroll.clientHeight - HEAD_H) / ROW_H) - 1);
    const moves = {
      ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0],
      PageUp: [-page, 0], PageDown: [page, 0],
    };
    if (moves[e.key]) {
      f.row = Math.max(0, Math.min(this.rows.length - 1, f.row + moves[e.key][0]));
      f.col = Math.max(0, Math.min(this.columns.length - 1, f.col + moves[e.key][1]));
    } else if (e.key === 'Home') {
      f.col = 0;
    } else if (e.key === 'End') {
      f.col = this.columns.length - 1;
    } else if (e.key === 'Enter' || e.key === ' ') {
      this.hooks.open(this.rows[f.row], f.col);
    } else {
      return;
    }
    e.preventDefault();
    this.showFocus();
  }
}

function rowBadge(row) {
  const built = row.version ? `v${row.version}` : '—';
  const served = row.serving ? `v${row.serving}` : '—';
  let s = `${built} · ${served}`;
  if (row.progress !== undefined && row.version && row.serving && row.version !== row.serving) {
    s += ` ${Math.floor(row.progress * 100)}%`;
  }
  if (row.paused) s += ' ⏸';
  return s;
}
