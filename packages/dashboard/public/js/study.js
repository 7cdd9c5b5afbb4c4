/* global performance */
import { api, badge, classLabel, el, fmt, fmtDuration, orderClasses, pathId, renderTopBar, shortId } from './common.js';
import { curveChart } from './charts.js';
import { analysisPanel } from './analysis.js';

renderTopBar('studies');
const app = document.getElementById('app');
const studyId = pathId();

let snapshot = null;
/** Leaderboard page shown (ranks offset + 1 …); the live feed follows the first page. */
let offset = 0;
let sort = { key: 'rank', dir: 1 };
let charts = { f1: null, loss: null };
let updates = 0;

const title = el('h1', {}, 'Study');
const sub = el('div.sub');
const live = el('span.live', { id: 'live' }, 'connecting…');
const kpis = el('div.kpis');
const actions = el('div.row');
const endReason = el('div', { id: 'end-reason' });
const leaderboardHead = el('thead');
const leaderboardBody = el('tbody', { id: 'leaderboard-body' });
const leaderboard = el('table', { id: 'leaderboard' }, leaderboardHead, leaderboardBody);
const pager = el('div.row', { id: 'pager' });
const f1Chart = el('div.chart', { id: 'chart-f1' });
const lossChart = el('div.chart', { id: 'chart-loss' });
const brackets = el('div', { id: 'brackets' });
const workers = el('div', { id: 'workers' });
const datasets = el('div', { id: 'datasets' });

app.replaceChildren(
  el('div.row', {}, title, el('span', { style: 'flex:1' }), live),
  sub,
  kpis,
  endReason,
  actions,
  el('div.panel', {}, el('div.row', {}, el('h2', { style: 'flex:1' }, 'Leaderboard'), el('span.muted', {}, 'click a column to sort this page · trials that miss a constraint rank below all that meet them')), el('div.scroll', {}, leaderboard), pager),
  el('div.grid2', {}, el('div.panel', {}, el('h2', {}, 'Validation macro-F1 per epoch'), f1Chart), el('div.panel', {}, el('h2', {}, 'Validation loss per epoch'), lossChart)),
  el('div.grid3', {}, el('div.panel', {}, el('h2', {}, 'Brackets and rungs'), brackets), el('div.panel', {}, el('h2', {}, 'Workers'), workers)),
  el('div.panel', {}, el('div.row', {}, el('h2', { style: 'flex:1' }, 'Data set'), el('span.muted', {}, 'near-duplicate groups never straddle train and validation')), datasets),
);
const analysis = analysisPanel(studyId);
app.append(analysis.panel);

function columns(snap) {
  const classes = orderClasses(snap.classes);
  const hpKeys = snap.varyingHyperparameters;
  return [
    { key: 'rank', label: '#', num: true, get: (r) => r.rank },
    { key: 'trial', label: 'Trial', get: (r) => r.index, render: (r) => el('a', { href: `/trials/${r.trialId}`, title: r.trialId }, `#${r.index}`) },
    { key: 'status', label: 'Status', get: (r) => r.status, render: (r) => badge(r.status) },
    { key: 'rung', label: 'Rung', num: true, get: (r) => r.rung },
    { key: 'epochs', label: 'Epochs', num: true, get: (r) => r.epochs },
    { key: 'objective', label: `Objective (${snap.study.objective.metric})`, num: true, get: (r) => r.objective, render: (r) => el('strong', {}, fmt(r.objective)) },
    { key: 'valAccuracy', label: 'Val acc', num: true, get: (r) => r.valAccuracy, render: (r) => fmt(r.valAccuracy) },
    { key: 'valMacroF1', label: 'Val macro-F1', num: true, get: (r) => r.valMacroF1, render: (r) => fmt(r.valMacroF1) },
    // External test sets: beside the objective, never part of the ranking.
    ...(snap.testSets ?? []).flatMap((name) => [
      { key: `test:${name}:acc`, label: `Test ${name} acc`, num: true, test: true, get: (r) => r.test?.[name]?.accuracy ?? null, render: (r) => fmt(r.test?.[name]?.accuracy ?? null) },
      { key: `test:${name}:f1`, label: `Test ${name} macro-F1`, num: true, test: true, get: (r) => r.test?.[name]?.macroF1 ?? null, render: (r) => fmt(r.test?.[name]?.macroF1 ?? null) },
    ]),
    // The pointing game (phantom data sets with lesion masks): informative, not ranked on.
    ...(snap.rows.some((r) => r.pointing) ? [
      { key: 'pointing', label: 'Points at lesion', num: true, test: true, get: (r) => r.pointing?.pointingAccuracy ?? null,
        render: (r) => (r.pointing ? el('span', { title: `explanation peak inside the lesion on ${r.pointing.scans} validation scans (chance ${fmt(r.pointing.chance.pointingAccuracy)}); ${fmt(r.pointing.massInside)} of its mass inside` }, fmt(r.pointing.pointingAccuracy)) : '—') },
    ] : []),
    ...classes.map((c) => ({ key: `recall:${c}`, label: `Recall ${classLabel(c)}`, num: true, get: (r) => r.recall?.[c] ?? null, render: (r) => fmt(r.recall?.[c] ?? null) })),
    { key: 'violations', label: 'Constraints', get: (r) => r.violations.length, render: (r) => (r.violations.length ? el('span.viol', { title: r.violations.join('\n') }, '✗ ' + r.violations.map(shortViolation).join('; ')) : r.objective === null ? '—' : el('span', { style: 'color:var(--good)' }, '✓')) },
    ...hpKeys.map((k) => ({ key: `hp:${k}`, label: k, num: true, get: (r) => hpValue(r.hyperparameters[k]), render: (r) => fmtHp(r.hyperparameters[k]) })),
    { key: 'worker', label: 'Worker', get: (r) => r.worker ?? '', render: (r) => r.worker ?? '—' },
  ];
}

/** "val_recall:glioma_tumor 0.712 < 0.9" → "glioma recall 0.712 < 0.9" */
function shortViolation(text) {
  return text.replace(/^val_recall:(\S+)/, (_, c) => `${classLabel(c)} recall`).replace(/^val_/, '');
}

function hpValue(v) {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : v;
}
function fmtHp(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v < 0.01 ? v.toExponential(2) : String(+v.toFixed(4));
  if (typeof v === 'object' && v !== null) return Object.entries(v).filter(([, x]) => x).map(([k, x]) => `${k}=${x}`).join(' ') || 'none';
  return v === undefined ? '—' : String(v);
}

function compare(a, b) {
  const na = a === null || a === undefined;
  const nb = b === null || b === undefined;
  if (na || nb) return na && nb ? 0 : na ? 1 : -1; // empty cells always last
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

function renderLeaderboard(snap) {
  const cols = columns(snap);
  leaderboardHead.replaceChildren(
    el('tr', {}, cols.map((c) =>
      el(`th.sortable${c.num ? '.num' : ''}${c.test ? '.test' : ''}`, { 'data-key': c.key, title: c.test ? 'external test set: shown for information, not ranked on' : '', onclick: () => { sort = { key: c.key, dir: sort.key === c.key ? -sort.dir : c.key === 'rank' || c.key === 'trial' ? 1 : -1 }; renderLeaderboard(snapshot); } },
        c.label, sort.key === c.key ? el('span.arrow', {}, sort.dir > 0 ? '▲' : '▼') : null),
    )),
  );
  const col = cols.find((c) => c.key === sort.key) ?? cols[0];
  const rows = [...snap.rows].sort((a, b) => {
    const va = col.get(a), vb = col.get(b);
    const nulls = (va === null || va === undefined) - (vb === null || vb === undefined);
    return nulls || sort.dir * compare(va, vb) || a.rank - b.rank;
  });
  if (!rows.length) {
    leaderboardBody.replaceChildren(el('tr', {}, el('td.empty', { colspan: cols.length }, 'No trial yet — waiting for the scheduler…')));
    return;
  }
  leaderboardBody.replaceChildren(
    ...rows.map((r) =>
      el(`tr${r.trialId === snap.bestTrialId ? '.best' : ''}${r.violations.length ? '.violates' : ''}`, { 'data-trial': r.trialId },
        cols.map((c) => el(`td${c.num ? '.num' : ''}${c.test ? '.test' : ''}`, { 'data-key': c.key }, c.render ? c.render(r) : c.get(r) ?? '—'))),
    ),
  );
}

function renderKpis(snap) {
  const s = snap.study;
  title.textContent = s.name;
  sub.replaceChildren(`${s.scheduler} · objective ${s.objective.metric} (${s.objective.direction}) · `, el('span.muted', {}, s.id));
  const kpi = (label, value, id) => el('div.kpi', id ? { id } : {}, el('div.v', {}, value), el('div.l', {}, label));
  kpis.replaceChildren(
    kpi('state', badge(s.state)),
    kpi('rungs done / planned', `${s.rungs.completed} / ${s.rungs.planned ?? '?'}`, 'kpi-rungs'),
    kpi('trials (running)', `${s.trials.total} (${s.trials.running})`),
    kpi(`best ${s.objective.metric}`, s.best ? fmt(s.best.objective) : '—', 'kpi-best'),
    kpi('elapsed', fmtDuration(s.elapsedMs)),
  );
  endReason.replaceChildren(...(s.endReason ? [el('div.notice', {}, `Ended early: ${s.endReason}`)] : []));
  const bestRow = snap.rows.find((r) => r.trialId === snap.bestTrialId);
  actions.replaceChildren(...[
    bestRow ? el('a.button', { href: `/trials/${bestRow.trialId}` }, `Open best trial #${bestRow.index}`) : null,
    bestRow ? el('a.button.secondary', { href: `/registry?study=${s.id}` }, 'Promote to registry…') : null,
    ['preparing', 'queued', 'running'].includes(s.state) ? el('button.secondary', { id: 'cancel-study', onclick: cancel }, 'Cancel study') : null,
  ].filter(Boolean));
}

async function cancel() {
  if (!window.confirm('Cancel this study? Waiting trial rungs are removed; running ones stop after their epoch.')) return;
  try {
    await api(`/api/studies/${studyId}/cancel`, { method: 'POST' });
  } catch (err) {
    window.alert(err.message);
  }
}

let curvesKey = '';
function renderCurves(snap) {
  const curves = snap.curves;
  // Redraw only when a point was added or the best trial changed (charts are the costly part of an update).
  const key = `${snap.bestTrialId}|${curves.length}|${curves.reduce((n, c) => n + c.epochs.length, 0)}`;
  if (key === curvesKey) return;
  curvesKey = key;
  const f1 = curves.map((c) => ({ trialId: c.trialId, epochs: c.epochs, values: c.valMacroF1 }));
  const loss = curves.map((c) => ({ trialId: c.trialId, epochs: c.epochs, values: c.valLoss }));
  if (!curves.length) {
    f1Chart.replaceChildren(el('div.empty', {}, 'No epoch finished yet.'));
    lossChart.replaceChildren(el('div.empty', {}, 'No epoch finished yet.'));
    return;
  }
  charts.f1 = curveChart(f1Chart, { title: '', curves: f1, bestId: snap.bestTrialId, yLabel: 'macro-F1', previous: charts.f1 });
  charts.loss = curveChart(lossChart, { title: '', curves: loss, bestId: snap.bestTrialId, yLabel: 'loss', previous: charts.loss });
}

function renderBrackets(snap) {
  if (!snap.brackets.length) {
    brackets.replaceChildren(el('div.empty', {}, 'No rung planned yet.'));
    return;
  }
  brackets.replaceChildren(
    el('div.brackets', {}, snap.brackets.map((b) =>
      el('div.bracket', {},
        el('h3', {}, b.label),
        b.rungs.map((r) =>
          el('div.rung', {},
            el('span.rl', {}, `rung ${r.rung} · ${r.toEpoch} ep`),
            el('div.dots', {}, r.trials.map((t) =>
              el(`a.dot.${t.state}${t.trialId === snap.bestTrialId ? '.best' : ''}`, { href: `/trials/${t.trialId}`, title: `trial #${t.index} · ${t.state}${t.score !== null ? ' · ' + fmt(t.score) : ''}` }),
            )),
            el('span.muted', { style: 'font-size:11px' }, `${r.trials.length}`),
          ),
        ),
      ),
    )),
    el('div.legend', {}, [['promoted', 'promoted to next rung'], ['completed', 'finished (top rung)'], ['stopped', 'stopped'], ['running', 'running'], ['queued', 'queued'], ['failed', 'failed']].map(([k, t]) => el('span', {}, el(`span.dot.${k}`), t))),
  );
}

function renderWorkers(snap) {
  if (!snap.workers.length) {
    workers.replaceChildren(el('div.empty', {}, 'No worker has registered.'));
    return;
  }
  workers.replaceChildren(
    el('table', {},
      el('thead', {}, el('tr', {}, ['Worker', 'Backend', 'Current trial', 'Images/s', 'Seen'].map((h) => el('th', {}, h)))),
      el('tbody', {}, snap.workers.map((w) =>
        el('tr', {},
          el('td', {}, el('span', { title: w.host ?? '' }, w.id), ' ', el(`span.badge.${w.online ? 'completed' : 'stopped'}`, {}, w.online ? 'online' : 'offline')),
          el('td', {}, w.backend ?? '—', w.device ? el('div.muted', {}, w.device) : null),
          el('td', {}, w.currentTrialId ? el('a', { href: `/trials/${w.currentTrialId}` }, shortId(w.currentTrialId)) : '—'),
          el('td.num', {}, fmt(w.imagesPerSecond, 1)),
          el('td', {}, w.lastHeartbeat ? `${fmtDuration(Date.now() - Date.parse(w.lastHeartbeat))} ago` : '—'),
        ),
      )),
    ),
  );
}

function preprocessingText(p) {
  if (!p) return 'as scanned';
  const parts = [p.headCrop ? `head crop (margin ${p.cropMargin})` : 'no crop', p.intensity === 'none' ? 'raw intensities' : p.intensity];
  return parts.join(' · ');
}

function renderDatasets(snap) {
  const list = snap.datasets ?? [];
  if (!list.length) {
    datasets.replaceChildren(el('div.empty', {}, snap.study.state === 'preparing' ? 'Preparing the data set…' : 'No dataset bundle.'));
    return;
  }
  datasets.replaceChildren(
    el('table', {},
      el('thead', {}, el('tr', {}, ['Bundle', 'Size', 'Preprocessing', 'Train', 'Val', 'Grouping', 'Groups (2+)', 'Largest', 'Near-dup pairs', 'Cross-class pairs'].map((h) => el('th', {}, h)))),
      el('tbody', {}, list.map((d) => {
        const s = d.split;
        return el('tr', { 'data-hash': d.hash },
          el('td', {}, el('code', { title: d.hash }, d.hash.slice(0, 10))),
          el('td.num', {}, `${d.imageSize} px`),
          el('td', {}, preprocessingText(d.preprocessing)),
          el('td.num', {}, s ? String(s.train) : '—'),
          el('td.num', {}, s ? String(s.val) : '—'),
          el('td', {}, !s ? '—' : s.nearDuplicateThreshold === null ? 'byte-identical' : `dHash+pHash ≤ ${s.nearDuplicateThreshold}`),
          el('td.num', {}, s ? String(s.groups) : '—'),
          el('td.num', {}, s ? String(s.largestGroup) : '—'),
          el('td.num', {}, s ? String(s.nearDuplicatePairs) : '—'),
          el('td.num', { title: 'pairs of near-identical images filed under different classes: possible label conflicts (listed in the bundle manifest)' }, s ? String(s.crossClassPairs) : '—'),
        );
      })),
    ),
  );
}

function renderPager(snap) {
  const { offset: from, limit, total } = snap.page;
  const to = Math.min(total, from + snap.rows.length);
  pager.replaceChildren(
    ...(total > limit
      ? [
          el('button.secondary', { id: 'page-prev', disabled: from === 0, onclick: () => showPage(Math.max(0, from - limit)) }, '← better'),
          el('span.muted', { id: 'page-range' }, `ranks ${from + 1}–${to} of ${total}`),
          el('button.secondary', { id: 'page-next', disabled: to >= total, onclick: () => showPage(from + limit) }, 'worse →'),
        ]
      : []),
  );
}

function render(snap) {
  snapshot = snap;
  renderKpis(snap);
  renderLeaderboard(snap);
  renderPager(snap);
  renderCurves(snap);
  renderBrackets(snap);
  renderWorkers(snap);
  renderDatasets(snap);
  void analysis.refresh();
  updates += 1;
  document.body.dataset.updates = String(updates);
  document.body.dataset.snapshotAt = String(snap.generatedAt);
  document.body.dataset.renderedAt = String(Date.now());
}

const snapshotUrl = (from) => `/api/ui/studies/${encodeURIComponent(studyId)}?offset=${from}`;

async function showPage(from) {
  offset = from;
  render(await api(snapshotUrl(from)));
}

try {
  render(await api(snapshotUrl(0)));
  document.body.dataset.firstPaint = String(performance.now());
} catch (err) {
  app.replaceChildren(el('h1', {}, 'Study'), el('div.notice.error', {}, err.message));
}

/**
 * A delta applied to the first page's snapshot: `order` is the page in rank order, `rows` and
 * `curves` only what changed, `changed` the other parts that did. Null when a row of the new
 * order is unknown here (the page must take a fresh snapshot).
 */
function applyDelta(base, delta) {
  const rows = new Map(base.rows.map((r) => [r.trialId, r]));
  for (const r of delta.rows) rows.set(r.trialId, r);
  const curves = new Map(base.curves.map((c) => [c.trialId, c]));
  for (const c of delta.curves) curves.set(c.trialId, c);
  if (delta.order.some((id) => !rows.has(id))) return null;
  return {
    ...base,
    ...delta.changed,
    generatedAt: delta.generatedAt,
    study: delta.study,
    bestTrialId: delta.bestTrialId,
    page: delta.page,
    rows: delta.order.map((id, i) => ({ ...rows.get(id), rank: delta.page.offset + i + 1 })),
    curves: delta.order.filter((id) => curves.has(id)).map((id) => curves.get(id)),
  };
}

// Live updates: a snapshot when the stream opens, then numbered deltas on every recorded event.
// The live view is the first page; on another page each update re-reads that page instead.
let live0 = null; // the first page as the stream knows it
let lastSeq = 0;
let source = null;
let refetching = false;
function connect() {
  source?.close();
  source = new EventSource(`/api/studies/${encodeURIComponent(studyId)}/events`);
  source.addEventListener('open', () => { live.textContent = 'live'; live.classList.add('on'); });
  source.addEventListener('error', () => { live.textContent = 'reconnecting…'; live.classList.remove('on'); });
  source.addEventListener('snapshot', (event) => {
    const { seq, ...snap } = JSON.parse(event.data);
    live0 = snap;
    lastSeq = seq;
    update(snap);
  });
  source.addEventListener('delta', (event) => {
    const delta = JSON.parse(event.data);
    const next = delta.seq === lastSeq + 1 && live0 ? applyDelta(live0, delta) : null;
    if (!next) return connect(); // missed an event: start over from a fresh snapshot
    live0 = next;
    lastSeq = delta.seq;
    update(next);
  });
}

function update(first) {
  if (offset === 0) return render(first);
  if (refetching) return;
  refetching = true;
  api(snapshotUrl(offset)).then(render, () => undefined).finally(() => { refetching = false; });
}

connect();
