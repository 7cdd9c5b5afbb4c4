/* global devicePixelRatio */
// Search analysis on the study page: importance, parallel coordinates, slices, optimisation history.
// Data: GET /api/ui/studies/:id/analysis (bounded to 2,000 trials server-side, cached per result).
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { api, el, fmt } from './common.js';

const WIDTH = 560;

/** Panel element plus a refresh function (throttled: at most one request in flight, then every 3 s). */
export function analysisPanel(studyId) {
  const importance = el('div', { id: 'analysis-importance' });
  const parallel = el('div', { id: 'analysis-parallel' });
  const slices = el('div.slices', { id: 'analysis-slices' });
  const history = el('div.chart', { id: 'analysis-history' });
  const note = el('span.muted', { id: 'analysis-note' });
  const panel = el(
    'div.panel',
    { id: 'analysis' },
    el('div.row', {}, el('h2', { style: 'flex:1' }, 'Search analysis'), note),
    el('div.grid2', {}, el('div', {}, el('h3', {}, 'Hyperparameter importance (PED-ANOVA)'), importance), el('div', {}, el('h3', {}, 'Optimisation history: best so far vs epochs trained'), history)),
    el('h3', {}, 'Parallel coordinates'),
    parallel,
    el('h3', {}, 'Slice plots: objective vs each hyperparameter'),
    slices,
  );
  let plot = null;
  let busy = false;
  let again = false;
  let last = 0;
  let renders = 0;
  let shown = '';

  async function refresh() {
    if (busy) { again = true; return; }
    const wait = last + 3000 - Date.now();
    if (wait > 0) { again = true; setTimeout(() => { if (again) { again = false; void refresh(); } }, wait); return; }
    busy = true;
    try {
      const a = await api(`/api/ui/studies/${encodeURIComponent(studyId)}/analysis`);
      last = Date.now();
      // Live updates arrive for every recorded event; redraw only when the results changed.
      const key = JSON.stringify([a.trials, a.history.length, a.history.at(-1), a.importance]);
      if (key === shown) return;
      shown = key;
      note.textContent = `${a.trials} trials with results${a.sampled ? ` · ${a.points.length} shown (best kept)` : ''}${a.importanceBudget ? ` · importance at ${a.importanceBudget} epochs` : ''}`;
      renderImportance(importance, a);
      renderParallel(parallel, a);
      renderSlices(slices, a);
      plot = renderHistory(history, a, plot);
      renders += 1;
      panel.dataset.renders = String(renders);
      panel.dataset.points = String(a.points.length);
    } catch (err) {
      note.textContent = `analysis unavailable: ${err.message}`;
    } finally {
      busy = false;
      if (again) { again = false; void refresh(); }
    }
  }
  return { panel, refresh };
}

function renderImportance(container, a) {
  if (a.importance.every((x) => x.importance === 0)) {
    container.replaceChildren(el('div.muted', {}, 'needs results of at least 4 trials'));
    return;
  }
  container.replaceChildren(
    ...a.importance.map((x) =>
      el('div.bar-row', {}, el('span.bar-label', {}, x.name), el('span.bar', {}, el('span.bar-fill', { style: `width:${(100 * x.importance).toFixed(1)}%` })), el('span.num', {}, fmt(x.importance, 2))),
    ),
  );
}

/** Normalised position of a value on a parameter's axis (null: inactive). */
function position(p, v) {
  if (v === null || v === undefined) return null;
  if (p.kind === 'categorical') return p.values.length > 1 ? p.values.indexOf(v) / (p.values.length - 1) : 0.5;
  if (p.max === p.min) return 0.5;
  return p.log ? (Math.log(v) - Math.log(p.min)) / (Math.log(p.max) - Math.log(p.min)) : (v - p.min) / (p.max - p.min);
}

function objectiveRange(a) {
  const ys = a.points.map((p) => p.objective);
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  return { lo, hi: hi > lo ? hi : lo + 1e-9 };
}

/** Colour from worst (light) to best (dark red), whatever the direction. */
function colour(a, value, range) {
  let t = (value - range.lo) / (range.hi - range.lo);
  if (a.direction === 'min') t = 1 - t;
  const light = Math.round(85 - 55 * t);
  return `hsla(${Math.round(220 - 220 * t)}, 70%, ${light}%, ${0.25 + 0.6 * t})`;
}

function canvas(width, height) {
  const c = el('canvas', { width: String(width * devicePixelRatio), height: String(height * devicePixelRatio), style: `width:${width}px;height:${height}px` });
  const ctx = c.getContext('2d');
  ctx.scale(devicePixelRatio, devicePixelRatio);
  ctx.font = '11px system-ui, sans-serif';
  return { c, ctx };
}

function renderParallel(container, a) {
  const axes = [...a.parameters, { name: 'objective', kind: 'objective' }];
  const width = Math.max(640, axes.length * 110);
  const height = 300;
  const { c, ctx } = canvas(width, height);
  const top = 24;
  const bottom = height - 36;
  const x = (i) => 50 + (i * (width - 100)) / Math.max(1, axes.length - 1);
  const range = objectiveRange(a);
  const sorted = [...a.points].sort((p, q) => (colourRank(a, p.objective, range)) - colourRank(a, q.objective, range));
  for (const point of sorted) {
    ctx.strokeStyle = colour(a, point.objective, range);
    ctx.beginPath();
    let drawing = false;
    axes.forEach((axis, i) => {
      const t = axis.kind === 'objective' ? (point.objective - range.lo) / (range.hi - range.lo) : position(axis, point.values[i]);
      if (t === null) { drawing = false; return; }
      const y = bottom - t * (bottom - top);
      if (drawing) ctx.lineTo(x(i), y); else ctx.moveTo(x(i), y);
      drawing = true;
    });
    ctx.stroke();
  }
  ctx.fillStyle = '#333';
  ctx.strokeStyle = '#999';
  axes.forEach((axis, i) => {
    ctx.beginPath(); ctx.moveTo(x(i), top); ctx.lineTo(x(i), bottom); ctx.stroke();
    ctx.textAlign = 'center';
    ctx.fillText(axis.name, x(i), height - 18);
    const [lo, hi] = axis.kind === 'objective' ? [fmt(range.lo), fmt(range.hi)] : axis.kind === 'categorical' ? [String(axis.values[0]), String(axis.values.at(-1))] : [String(axis.min), String(axis.max)];
    ctx.fillText(hi, x(i), top - 8);
    ctx.fillText(lo, x(i), height - 4);
  });
  container.replaceChildren(el('div.scroll', {}, c));
}

function colourRank(a, value, range) {
  const t = (value - range.lo) / (range.hi - range.lo);
  return a.direction === 'min' ? 1 - t : t;
}

function renderSlices(container, a) {
  const range = objectiveRange(a);
  const charts = a.parameters.map((p, i) => {
    const { c, ctx } = canvas(260, 180);
    const left = 44;
    const right = 250;
    const top = 10;
    const bottom = 150;
    ctx.strokeStyle = '#bbb';
    ctx.strokeRect(left, top, right - left, bottom - top);
    for (const point of a.points) {
      const t = position(p, point.values[i]);
      if (t === null) continue;
      // Categorical values get a small deterministic jitter so overlapping points stay visible.
      const jitter = p.kind === 'categorical' ? (((point.index * 2654435761) >>> 0) / 2 ** 32 - 0.5) * 0.15 : 0;
      const px = left + 8 + (t + jitter) * (right - left - 16);
      const py = bottom - ((point.objective - range.lo) / (range.hi - range.lo)) * (bottom - top);
      ctx.fillStyle = colour(a, point.objective, range);
      ctx.beginPath(); ctx.arc(px, py, 2.5, 0, 2 * Math.PI); ctx.fill();
    }
    ctx.fillStyle = '#333';
    ctx.textAlign = 'right';
    ctx.fillText(fmt(range.hi), left - 4, top + 8);
    ctx.fillText(fmt(range.lo), left - 4, bottom);
    ctx.textAlign = 'center';
    const ticks = p.kind === 'categorical' ? p.values.map(String) : [String(p.min), String(p.max)];
    ticks.forEach((label, k) => ctx.fillText(label, left + 8 + (ticks.length > 1 ? k / (ticks.length - 1) : 0.5) * (right - left - 16), bottom + 14));
    return el('div.slice', {}, el('div.muted', {}, `${p.name}${p.log ? ' (log)' : ''}`), c);
  });
  container.replaceChildren(...charts);
}

function renderHistory(container, a, previous) {
  if (previous) previous.destroy();
  container.replaceChildren();
  if (a.history.length === 0) {
    container.append(el('div.muted', {}, 'no results yet'));
    return null;
  }
  const xs = a.history.map((h) => h.epochs);
  const data = [xs, a.history.map((h) => h.best), a.history.map((h) => h.value)];
  return new uPlot(
    {
      width: Math.min(WIDTH, container.clientWidth || WIDTH),
      height: 240,
      scales: { x: { time: false } },
      axes: [{ label: 'epochs trained' }, { label: 'objective' }],
      series: [
        { label: 'epochs' },
        { label: 'best so far', stroke: '#b3261e', width: 2, spanGaps: true },
        { label: 'rung result', stroke: 'transparent', points: { show: true, size: 4, stroke: '#5470c6', fill: '#5470c6aa' } },
      ],
    },
    data,
    container,
  );
}
