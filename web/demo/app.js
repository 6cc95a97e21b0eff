// The live demo page: subscribes to the "host" and "api" dashboards through dashfeed/client and renders
// whatever series arrive, grouped by metric name — a card per series with its live numbers and a
// sparkline of the last 5 minutes (ring buffer of (end, mean) points drawn on <canvas>; until 5 minutes
// of points exist, the x axis spans the points there are).
//
// Rendering discipline: one requestAnimationFrame loop for the whole page. The client's frame callbacks
// (coalesced updates) run first and only write text and push points; then the loop redraws the canvases
// whose data changed, visible ones only, within a time budget per frame. No per-series timers, no layout
// reads in the loop (canvas sizes come from a ResizeObserver).

import { connect } from '/client/index.js';

const SPAN_MS = 5 * 60 * 1000; // sparkline time span once that much history exists
const CAPACITY = 512; // points per ring buffer (> SPAN_MS at one point per second)
const DRAW_BUDGET_MS = 6; // canvas work per frame; the rest waits for the next frame
const STALE_MS = 10000; // a series without news for this long is dimmed
const LOG_MAX = 80;
const PALETTE = ['#4fd1c5', '#7f9cf5', '#f6ad55', '#b794f4', '#68d391', '#f687b3', '#63b3ed', '#fc8181'];
const UNITS = [
  [/_percent$/, '%'], [/_pct$/, '%'], [/_mb$/, 'MB'], [/_kb$/, 'KB'], [/_bytes$/, 'B'],
  [/_kbps$/, 'kbps'], [/_mbps$/, 'Mbps'], [/_ms$/, 'ms'], [/_seconds$/, 's'], [/_per_s$/, '/s'],
];
const CLOSE_NAMES = {
  1000: 'normal', 1001: 'server going away', 1006: 'connection lost', 1008: 'policy violation',
  1009: 'message too big', 1011: 'server error', 4000: 'heartbeat timeout', 4001: 'unauthorized',
  4003: 'forbidden', 4008: 'slow consumer', 4029: 'rate limited', 4401: 'token expired', 4408: 'idle timeout',
};

const $ = (sel, root = document) => root.querySelector(sel);
const collator = new Intl.Collator(undefined, { numeric: true });
const nf = [0, 1, 2].map(
  (d) => new Intl.NumberFormat(undefined, { minimumFractionDigits: d, maximumFractionDigits: d }),
);
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const dpr = () => window.devicePixelRatio || 1;

/** A number for humans: fewer decimals as it grows, compact from a million on (`12.3M`), so that a
 * value stays within 8 characters and fits its card. */
function fmt(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e6) return compact.format(n);
  return (a >= 100 ? nf[0] : a >= 10 ? nf[1] : nf[2]).format(n);
}

/** Writes text only when it changed (no needless DOM mutation). */
function setText(el, text) {
  if (el.__text !== text) {
    el.__text = text;
    el.textContent = text;
  }
}

/** `metric{k=v,...}@window` → its parts; `base` is the name without the window suffix. */
function parseSeries(name) {
  const m = /^([^{@]+)(\{[^}]*\})?(?:@([^@{}]+))?$/.exec(name);
  if (!m) return { base: name, metric: name, tags: [], window: null };
  const tags = m[2] ? m[2].slice(1, -1).split(',').filter(Boolean).map((kv) => kv.trim()) : [];
  return { base: m[1] + (m[2] ?? ''), metric: m[1], tags, window: m[3] ?? null };
}

/** Display label and unit of a metric name (`mem_used_percent` → `mem used`, `%`). */
function unitOf(metric) {
  for (const [re, unit] of UNITS) {
    if (re.test(metric)) return { label: metric.replace(re, '').replace(/_/g, ' '), unit };
  }
  return { label: metric.replace(/_/g, ' '), unit: '' };
}

/** The numbers of a series value: a window result object, or a plain number. */
function readingOf(v, now) {
  if (typeof v === 'number') return Number.isFinite(v) ? { mean: v, end: now } : null;
  if (!v || typeof v !== 'object' || typeof v.mean !== 'number') return null;
  return { mean: v.mean, end: typeof v.end === 'number' ? v.end : now, q: v.quantiles, count: v.count,
    min: v.min, max: v.max, final: v.final !== false };
}

/** A fixed-size ring of (time, value) points; a point with the last time replaces it (partial results). */
class Ring {
  constructor(cap) {
    this.t = new Float64Array(cap);
    this.v = new Float64Array(cap);
    this.head = 0; // index of the oldest point
    this.len = 0;
  }
  at(i) { return (this.head + i) % this.t.length; }
  get lastT() { return this.len ? this.t[this.at(this.len - 1)] : -Infinity; }
  push(t, v) {
    if (this.len && t < this.lastT) return false; // out of order: keep the line monotonic
    if (this.len && t === this.lastT) {
      this.v[this.at(this.len - 1)] = v;
      return true;
    }
    if (this.len === this.t.length) this.head = (this.head + 1) % this.t.length;
    else this.len += 1;
    const i = this.at(this.len - 1);
    this.t[i] = t;
    this.v[i] = v;
    return true;
  }
}

// ---- frame loop: the client's callbacks, then the canvases ----

const frameTasks = [];
const dirty = new Set(); // cards whose canvas must be redrawn
let framePending = false;

function requestFrame() {
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(onFrame);
}

function onFrame() {
  framePending = false;
  for (const task of frameTasks.splice(0)) task();
  const t0 = performance.now();
  for (const card of dirty) {
    dirty.delete(card);
    if (!card.visible) {
      card.stale = true; // drawn when it scrolls into view
      continue;
    }
    drawCard(card);
    if (performance.now() - t0 > DRAW_BUDGET_MS) break;
  }
  if (dirty.size) requestFrame();
}

/** The scheduler handed to the client: its batches run at the start of our frame. */
function scheduleFrame(cb) {
  frameTasks.push(cb);
  requestFrame();
}

const resizer = new ResizeObserver((entries) => {
  for (const e of entries) {
    const card = e.target.__card;
    const box = e.contentBoxSize?.[0];
    card.w = box ? box.inlineSize : e.contentRect.width;
    card.h = box ? box.blockSize : e.contentRect.height;
    dirty.add(card);
  }
  requestFrame();
});

const visibility = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const card = e.target.__card;
    card.visible = e.isIntersecting;
    if (card.visible && card.stale) dirty.add(card);
  }
  requestFrame();
}, { rootMargin: '200px' });

function drawCard(card) {
  card.stale = false;
  const { canvas, ctx, w, h } = card;
  if (!w || !h) return;
  const ratio = dpr();
  const bw = Math.round(w * ratio);
  const bh = Math.round(h * ratio);
  if (canvas.width !== bw || canvas.height !== bh) {
    canvas.width = bw;
    canvas.height = bh;
  }
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const rings = [card.main, card.alt].filter((r) => r && r.len);
  if (!rings.length) return;
  const tEnd = Math.max(...rings.map((r) => r.lastT));
  const tFirst = Math.min(...rings.map((r) => r.t[r.head]));
  // The data's own span until SPAN_MS of it exists (a lone point sits at the right edge).
  const tStart = tFirst < tEnd ? Math.max(tEnd - SPAN_MS, tFirst) : tEnd - 1;
  const span = tEnd - tStart;
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rings) {
    for (let i = 0; i < r.len; i++) {
      const k = r.at(i);
      if (r.t[k] < tStart) continue;
      if (r.v[k] < lo) lo = r.v[k];
      if (r.v[k] > hi) hi = r.v[k];
    }
  }
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.12;
  lo -= pad;
  hi += pad;
  const x = (t) => ((t - tStart) / span) * (w - 4) + 2;
  const y = (v) => h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
  /** Traces ring `r` inside the span; returns the first x and the last point (undefined if none). */
  const path = (r) => {
    ctx.beginPath();
    let firstX;
    let lastX = 0;
    let lastY = 0;
    for (let i = 0; i < r.len; i++) {
      const k = r.at(i);
      if (r.t[k] < tStart) continue;
      lastX = x(r.t[k]);
      lastY = y(r.v[k]);
      if (firstX === undefined) {
        firstX = lastX;
        ctx.moveTo(lastX, lastY);
      } else ctx.lineTo(lastX, lastY);
    }
    return firstX === undefined ? undefined : [firstX, lastX, lastY];
  };
  if (card.alt?.len) {
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = 'rgba(226, 232, 240, 0.35)';
    ctx.lineWidth = 1;
    path(card.alt);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  const traced = card.main.len ? path(card.main) : undefined;
  if (!traced) return;
  const [fx, lx, ly] = traced;
  ctx.strokeStyle = card.color;
  ctx.lineWidth = 1.5;
  ctx.lineJoin = 'round';
  ctx.stroke();
  ctx.lineTo(lx, h);
  ctx.lineTo(fx, h);
  ctx.closePath();
  ctx.fillStyle = card.fill;
  ctx.fill();
  ctx.beginPath();
  ctx.arc(lx, ly, 2.2, 0, Math.PI * 2);
  ctx.fillStyle = card.color;
  ctx.fill();
}

// ---- views ----

const views = new Map(); // dashboard → {section, groups, cards, row, empty}
const template = $('#card-template');
let readyMarked = false;

function colorOf(metric) {
  let h = 0;
  for (const ch of metric) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function viewOf(dashboard) {
  let v = views.get(dashboard);
  if (v) return v;
  const section = document.createElement('section');
  section.className = 'dashboard';
  section.dataset.dashboard = dashboard;
  section.innerHTML = `<header class="dash-head"><h2></h2><span class="dash-meta">epoch
    <code data-field="epoch">–</code> · seq <code data-field="seq">–</code></span></header>
    <p class="empty">Waiting for the first snapshot…</p><div class="groups"></div>`;
  setText($('h2', section), dashboard);
  $('#dashboards').append(section);
  const row = document.createElement('tr');
  row.dataset.dashboard = dashboard;
  row.innerHTML = '<td class="d"></td><td><code data-field="epoch">–</code></td>'
    + '<td data-field="seq">–</td><td data-field="series">0</td>';
  setText($('.d', row), dashboard);
  $('#positions tbody').append(row);
  v = { section, row, groups: new Map(), cards: new Map(), bySeries: new Map(), empty: $('.empty', section) };
  views.set(dashboard, v);
  return v;
}

function groupOf(view, metric) {
  let g = view.groups.get(metric);
  if (g) return g;
  const { label, unit } = unitOf(metric);
  const el = document.createElement('section');
  el.className = 'group';
  el.dataset.metric = metric;
  el.innerHTML = '<h3 class="group-title"><span class="label"></span><span class="unit"></span>'
    + '<span class="count"></span></h3><div class="grid"></div>';
  setText($('.label', el), label);
  setText($('.unit', el), unit ? `(${unit})` : '');
  g = { el, grid: $('.grid', el), count: $('.count', el), cards: 0 };
  const groupsEl = $('.groups', view.section);
  const next = [...groupsEl.children].find((c) => collator.compare(c.dataset.metric, metric) > 0);
  groupsEl.insertBefore(el, next ?? null);
  view.groups.set(metric, g);
  return g;
}

/** The card of `series` (created on first sight) and the parsed name; cached per series name. */
function cardOf(view, dashboard, series) {
  const hit = view.bySeries.get(series);
  if (hit) return hit;
  const p = parseSeries(series);
  let card = view.cards.get(p.base);
  if (card) {
    view.bySeries.set(series, { card, p });
    return { card, p };
  }
  const g = groupOf(view, p.metric);
  const el = template.content.firstElementChild.cloneNode(true);
  el.dataset.series = `${dashboard}/${p.base}`;
  el.dataset.sort = p.tags.join(',');
  el.title = p.base;
  const { unit } = unitOf(p.metric);
  setText($('.card-title', el), p.tags.length ? '' : 'overall');
  const tags = $('.tags', el);
  for (const t of p.tags) {
    const s = document.createElement('span');
    s.className = 'tag';
    s.textContent = t;
    tags.append(s);
  }
  setText($('.unit', el), unit);
  const canvas = $('canvas', el);
  const color = colorOf(p.metric);
  card = {
    el, canvas, ctx: canvas.getContext('2d'), color, fill: `${color}22`, group: g, metric: p.metric,
    value: $('.reading .value', el), stats: $('.stats', el), altEl: $('.alt', el),
    altValue: $('.alt .value', el), altLabel: $('.alt-label', el), main: new Ring(CAPACITY), alt: null,
    w: 0, h: 0, visible: false, stale: false, seen: 0, series: new Set(), isStale: false,
  };
  canvas.__card = card;
  const next = [...g.grid.children].find((c) => collator.compare(c.dataset.sort, el.dataset.sort) > 0);
  g.grid.insertBefore(el, next ?? null);
  g.cards += 1;
  setText(g.count, `${g.cards} series`);
  g.el.classList.toggle('multi', g.cards > 1);
  view.cards.set(p.base, card);
  resizer.observe(canvas);
  visibility.observe(canvas);
  view.bySeries.set(series, { card, p });
  return { card, p };
}

function removeCard(view, base, card) {
  resizer.unobserve(card.canvas);
  visibility.unobserve(card.canvas);
  dirty.delete(card);
  card.el.remove();
  view.cards.delete(base);
  for (const [series, hit] of view.bySeries) if (hit.card === card) view.bySeries.delete(series);
  const g = card.group;
  g.cards -= 1;
  setText(g.count, `${g.cards} series`);
  g.el.classList.toggle('multi', g.cards > 1);
  if (g.cards === 0) {
    g.el.remove();
    view.groups.delete(card.metric);
  }
}

/** Applies `data` (series → value) to a dashboard's view. */
function render(dashboard, data) {
  const view = viewOf(dashboard);
  const now = Date.now();
  for (const series in data) {
    const r = readingOf(data[series], now);
    if (!r) continue;
    const { card, p } = cardOf(view, dashboard, series);
    card.series.add(series);
    card.seen = now;
    if (p.window) {
      if (!card.alt) {
        card.alt = new Ring(CAPACITY);
        card.altEl.hidden = false;
        card.altEl.dataset.series = `${dashboard}/${series}`;
        setText(card.altLabel, `${p.window} avg`);
      }
      if (card.alt.push(r.end, r.mean)) dirty.add(card);
      setText(card.altValue, fmt(r.mean));
      continue;
    }
    if (card.main.push(r.end, r.mean)) dirty.add(card);
    setText(card.value, fmt(r.mean));
    const q = r.q && (r.q.p50 !== undefined || r.q.p99 !== undefined);
    const stats = q
      ? `p50 ${fmt(r.q.p50)} · p99 ${fmt(r.q.p99)}`
      : r.min !== undefined ? `min ${fmt(r.min)} · max ${fmt(r.max)}` : '';
    setText(card.stats, stats);
  }
  view.empty.hidden = view.cards.size > 0;
  if (!view.cards.size) setText(view.empty, 'No series yet.');
  setText($('[data-field="series"]', view.row), String(view.cards.size));
}

function showPosition(dashboard, epoch, seq) {
  const view = viewOf(dashboard);
  for (const root of [view.section, view.row]) {
    setText($('[data-field="epoch"]', root), String(epoch));
    setText($('[data-field="seq"]', root), String(seq));
  }
}

function onSnapshot(ev) {
  const view = viewOf(ev.dashboard);
  // A snapshot is the whole state: series it lacks are gone.
  for (const [base, card] of view.cards) {
    for (const s of card.series) {
      if (s in ev.data) continue;
      card.series.delete(s);
      view.bySeries.delete(s);
      if (s === base) {
        card.main = new Ring(CAPACITY);
        setText(card.value, '–');
        setText(card.stats, '');
        dirty.add(card);
      } else if (s === card.altEl.dataset.series?.slice(ev.dashboard.length + 1)) {
        card.alt = null;
        card.altEl.hidden = true;
        delete card.altEl.dataset.series;
        dirty.add(card);
      }
    }
    if (card.series.size === 0) removeCard(view, base, card);
  }
  render(ev.dashboard, ev.data);
  showPosition(ev.dashboard, ev.epoch, ev.seq);
  if (ev.recovered === false) {
    log(`${ev.dashboard}: history lost: fresh snapshot (epoch ${ev.epoch})`, 'warn');
  }
  if (!readyMarked) {
    readyMarked = true;
    document.body.dataset.ready = '1';
  }
}

function onUpdate(ev) {
  render(ev.dashboard, ev.data);
  showPosition(ev.dashboard, ev.epoch, ev.seq);
}

// Dims series that stopped updating (one timer for the page).
setInterval(() => {
  const now = Date.now();
  for (const view of views.values()) {
    for (const card of view.cards.values()) {
      const stale = now - card.seen > STALE_MS;
      if (stale !== card.isStale) {
        card.isStale = stale;
        card.el.classList.toggle('is-stale', stale);
      }
    }
  }
}, 2000);

// ---- connection status and log ----

const statusEl = $('#status');
const backoffEl = $('#backoff');
const retryBtn = $('#retry');
let countdown = 0;

function log(text, kind = 'info') {
  const li = document.createElement('li');
  li.className = kind;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, ' ', text);
  const list = $('#log');
  list.prepend(li);
  while (list.children.length > LOG_MAX) list.lastElementChild.remove();
}

function closeName(code) {
  return code === undefined ? '' : `${code} ${CLOSE_NAMES[code] ?? ''}`.trim();
}

function onStatus(ev) {
  setText(statusEl, ev.status);
  statusEl.dataset.status = ev.status;
  document.body.dataset.status = ev.status;
  clearInterval(countdown);
  retryBtn.hidden = !(ev.status === 'reconnecting' || ev.status === 'offline');
  if (ev.status === 'reconnecting' && ev.delay !== undefined) {
    const tick = () => {
      const left = Math.max(0, ev.retryAt - Date.now());
      const text = `retry in ${(left / 1000).toFixed(1)} s · attempt ${ev.attempt}`;
      setText(backoffEl, left > 0 ? text : 'connecting…');
    };
    tick();
    countdown = setInterval(tick, 100);
    const why = ev.closeCode !== undefined ? `closed (${closeName(ev.closeCode)}); ` : '';
    log(`${why}reconnecting in ${(ev.delay / 1000).toFixed(1)} s`, 'warn');
  } else {
    const closed = ev.status === 'offline' && ev.closeCode !== undefined;
    setText(backoffEl, closed ? `closed: ${closeName(ev.closeCode)}` : '');
  }
  if (ev.status === 'live') log('connected', 'ok');
  if (ev.status === 'offline') {
    log(`offline${ev.closeCode !== undefined ? ` (${closeName(ev.closeCode)})` : ''}`, 'error');
  }
}

// ---- start ----

const params = new URLSearchParams(location.search);
const dashboards = (params.get('dashboards') ?? 'host,api').split(',').map((s) => s.trim()).filter(Boolean);
for (const d of dashboards) viewOf(d);

const client = connect('/ws', {
  dashboards,
  format: 'json',
  token: params.get('token') ?? undefined,
  scheduleFrame,
});
client.on('status', onStatus);
client.on('snapshot', onSnapshot);
client.on('update', onUpdate);
client.on('resume', (ev) => {
  const n = ev.missed;
  const what = n ? `${n} missed update${n === 1 ? '' : 's'} recovered` : 'nothing missed';
  log(`${ev.dashboard}: resumed, ${what}`, 'ok');
});
client.on('gap', (ev) => {
  log(`${ev.dashboard}: seq ${ev.from} → ${ev.to}${ev.resync ? ', resyncing' : ' (conflated)'}`, 'info');
});
client.on('error', (ev) => {
  log(`error ${ev.code}${ev.dashboard ? ` (${ev.dashboard})` : ''}: ${ev.message}`, 'error');
});
const mpsEl = $('#messages-per-second');
client.on('stats', ({ messagesPerSecond: r }) => setText(mpsEl, nf[r < 10 ? 1 : 0].format(r)));
retryBtn.addEventListener('click', () => client.reconnect());

// For debugging from the console.
window.dashfeedClient = client;
