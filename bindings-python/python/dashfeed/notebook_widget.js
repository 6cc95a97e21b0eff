// dashfeed live view: the page module of dashfeed.notebook.LiveView (an anywidget front-end module,
// `export default { render }`). It only draws: Python keeps the state — the latest value and a bounded
// history of [t_ms, value] points per series — and syncs it at most every `interval` (50 ms by default;
// the history at most once per second); this module redraws at most once per animation frame, reusing
// one table row and one canvas per series.

const FIELDS = ['title', 'field', 'dashboard', 'seq', 'epoch', 'status', 'error', 'updates', 'values', 'history'];
const SPARK_W = 160;
const SPARK_H = 28;

/** A number as a dashboard shows it: integers as they are, others with 3-4 significant decimals. */
export function formatValue(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-3)) return v.toExponential(3);
  return v.toLocaleString('en-US', { maximumFractionDigits: a >= 100 ? 1 : a >= 1 ? 3 : 4 });
}

/** Draws `points` ([t, v] pairs) as a line scaled to the canvas, with a dot on the last point. */
export function drawSparkline(canvas, points) {
  const dpr = (typeof window !== 'undefined' && window.devicePixelRatio) || 1;
  const w = Math.round(SPARK_W * dpr);
  const h = Math.round(SPARK_H * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.clearRect(0, 0, w, h);
  const pts = (points || []).filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]));
  if (pts.length === 0) return;
  let t0 = pts[0][0], t1 = pts[0][0], lo = pts[0][1], hi = pts[0][1];
  for (const [t, v] of pts) {
    if (t < t0) t0 = t;
    if (t > t1) t1 = t;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const pad = 3 * dpr;
  const byIndex = t1 === t0; // all points at one time: spread them evenly
  const x = (p, i) => (pts.length === 1 ? w - pad
    : pad + (w - 2 * pad) * (byIndex ? i / (pts.length - 1) : (p[0] - t0) / (t1 - t0)));
  const y = (v) => (hi === lo ? h / 2 : h - pad - (h - 2 * pad) * ((v - lo) / (hi - lo)));
  const color = getComputedStyle(canvas).color || '#1f77b4';
  ctx.lineWidth = 1.5 * dpr;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = color;
  ctx.beginPath();
  pts.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p, i), y(p[1])) : ctx.lineTo(x(p, i), y(p[1]))));
  ctx.stroke();
  const last = pts.length - 1;
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(x(pts[last], last), y(pts[last][1]), 2.5 * dpr, 0, 2 * Math.PI);
  ctx.fill();
  canvas.title = `min ${formatValue(lo)} · max ${formatValue(hi)} · ${pts.length} points`;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** anywidget's render: builds the view in `el`, redraws on state changes, returns the cleanup. */
function render({ model, el: host }) {
  const root = el('div', 'dashfeed-live');
  const head = el('div', 'dashfeed-live-head');
  const title = el('span', 'dashfeed-live-title');
  const status = el('span', 'dashfeed-live-status');
  const meta = el('span', 'dashfeed-live-meta');
  head.append(title, status, meta);
  const error = el('div', 'dashfeed-live-error');
  const table = el('table', 'dashfeed-live-table');
  const thead = el('thead');
  const hrow = el('tr');
  const valueHead = el('th', 'value', 'value');
  hrow.append(el('th', 'series', 'series'), valueHead, el('th', 'spark', 'history'));
  thead.append(hrow);
  const tbody = el('tbody');
  table.append(thead, tbody);
  const empty = el('div', 'dashfeed-live-empty', 'waiting for data…');
  root.append(head, error, table, empty);
  host.append(root);

  const rows = new Map(); // series -> {tr, value, canvas}
  let frame = 0;
  let draws = 0;

  function draw() {
    frame = 0;
    draws += 1;
    root.dataset.draws = String(draws);
    const st = model.get('status') || 'connecting';
    title.textContent = model.get('title') || model.get('dashboard') || 'dashfeed';
    status.textContent = st;
    status.dataset.status = st;
    root.dataset.status = st;
    const epoch = model.get('epoch') || '';
    meta.textContent = `seq ${model.get('seq') ?? 0}` + (epoch ? ` · epoch ${epoch.slice(0, 8)}` : '');
    meta.dataset.seq = String(model.get('seq') ?? 0);
    const err = model.get('error') || '';
    error.textContent = err;
    error.hidden = !err;
    valueHead.textContent = model.get('field') ? `value (${model.get('field')})` : 'value';

    const values = model.get('values') || {};
    const history = model.get('history') || {};
    const names = Object.keys(values).sort();
    for (const [name, row] of rows) {
      if (!(name in values)) {
        row.tr.remove();
        rows.delete(name);
      }
    }
    names.forEach((name, i) => {
      let row = rows.get(name);
      if (!row) {
        const tr = el('tr');
        tr.dataset.series = name;
        const canvas = el('canvas', 'dashfeed-live-spark');
        canvas.style.width = `${SPARK_W}px`;
        canvas.style.height = `${SPARK_H}px`;
        const spark = el('td', 'spark');
        spark.append(canvas);
        row = { tr, value: el('td', 'value'), canvas };
        tr.append(el('td', 'series', name), row.value, spark);
        rows.set(name, row);
      }
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      const v = values[name];
      row.value.textContent = formatValue(v);
      row.value.dataset.value = v === null || v === undefined ? '' : String(v);
      drawSparkline(row.canvas, history[name]);
    });
    empty.hidden = names.length > 0;
    table.hidden = names.length === 0;
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  for (const f of FIELDS) model.on(`change:${f}`, schedule);
  draw();
  return () => {
    if (frame) cancelAnimationFrame(frame);
    for (const f of FIELDS) model.off(`change:${f}`, schedule);
    root.remove();
  };
}

export default { render };
