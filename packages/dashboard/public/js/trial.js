import { api, badge, classLabel, el, fmt, fmtTime, pathId, renderTopBar } from './common.js';
import { curveChart } from './charts.js';

renderTopBar('studies');
const app = document.getElementById('app');
const trialId = pathId();

/** Temperature scaling and the referral operating point fitted on validation at the end of the rung. */
function calibrationNote(c) {
  if (!c) return null;
  const op = c.operatingPoint;
  return el('div.muted', { id: 'calibration', style: 'margin-top:8px' }, `calibration: T ${c.temperature.toFixed(2)}, ECE ${c.eceBefore.toFixed(3)} → ${c.eceAfter.toFixed(3)} · refer below ${(100 * op.threshold).toFixed(1)}% confidence: ${(100 * op.referralRate).toFixed(1)}% referred, ${(100 * op.acceptedErrorRate).toFixed(1)}% errors on the rest`);
}

function confusionMatrix(evaluation) {
  const { classes, confusionMatrix: cm } = evaluation;
  const rowTotals = cm.map((row) => row.reduce((a, b) => a + b, 0));
  return el('table.cm', { id: 'confusion-matrix' },
    el('thead', {}, el('tr', {}, el('th', {}, 'true ↓ / predicted →'), classes.map((c) => el('th', {}, classLabel(c))))),
    el('tbody', {}, cm.map((row, i) =>
      el('tr', {}, el('th.rowh', {}, classLabel(classes[i])), row.map((n, j) => {
        const share = rowTotals[i] ? n / rowTotals[i] : 0;
        // Diagonal in blue (correct), off-diagonal in red (errors); intensity = share of the true class.
        const hue = i === j ? '31,111,235' : '198,40,40';
        const color = share > 0.55 ? '#fff' : '#1d2430';
        return el('td', { style: `background: rgba(${hue},${(0.08 + 0.92 * share).toFixed(3)}); color:${color}`, title: `${n} of ${rowTotals[i]} ${classes[i]} predicted as ${classes[j]} (${(100 * share).toFixed(1)}%)` }, String(n));
      })),
    )),
  );
}

/** The seed's classification_report layout (scikit-learn): per class, then accuracy, macro avg, weighted avg. */
function reportTable(report) {
  const row = (name, m) => el('tr', {}, el('th', {}, name), el('td.num', {}, fmt(m.precision, 2)), el('td.num', {}, fmt(m.recall, 2)), el('td.num', {}, fmt(m.f1, 2)), el('td.num', {}, String(m.support)));
  return el('table', { id: 'classification-report', style: 'width:auto' },
    el('thead', {}, el('tr', {}, el('th', {}, ''), ['precision', 'recall', 'f1-score', 'support'].map((h) => el('th.num', {}, h)))),
    el('tbody', {},
      report.classes.map((c) => row(c, report.perClass[c])),
      el('tr', {}, el('th', {}, 'accuracy'), el('td'), el('td'), el('td.num', {}, fmt(report.accuracy, 2)), el('td.num', {}, String(report.macroAvg.support))),
      row('macro avg', report.macroAvg),
      row('weighted avg', report.weightedAvg),
    ),
  );
}

/** External test sets: accuracy, macro-F1 and recall per class; not part of the objective. */
function testSetsTable(test, classes) {
  const names = Object.keys(test);
  if (!names.length) return null;
  return el('div.panel', {}, el('h2', {}, 'External test sets (not ranked on)'),
    el('table', { id: 'test-sets', style: 'width:auto' },
      el('thead', {}, el('tr', {}, ['Test set', 'Images', 'Accuracy', 'Macro-F1', ...classes.map((c) => `Recall ${classLabel(c)}`)].map((h) => el('th', {}, h)))),
      el('tbody', {}, names.map((n) => {
        const t = test[n];
        return el('tr', { 'data-test-set': n }, el('th', {}, n), el('td.num', {}, String(t.images)), el('td.num', {}, fmt(t.accuracy)), el('td.num', {}, fmt(t.macroF1)),
          classes.map((c) => el('td.num', {}, t.perClass[c]?.support ? fmt(t.perClass[c].recall) : '—')));
      })),
    ),
  );
}

/** Does the explanation point at the lesion? Only phantom data sets carry the lesion masks to tell. */
function pointingPanel(p) {
  if (!p) return null;
  return el('div.panel', { id: 'pointing' }, el('h2', {}, 'Explanations: pointing game (not ranked on)'),
    el('dl.kv', {},
      el('dt', {}, 'peak inside the lesion'), el('dd', {}, `${fmt(p.pointingAccuracy)} of ${p.scans} validation scans (a random map: ${fmt(p.chance.pointingAccuracy)})`),
      el('dt', {}, 'heatmap mass inside'), el('dd', {}, `${fmt(p.massInside)} (a random map: ${fmt(p.chance.massInside)})`),
      el('dt', {}, 'explanation'), el('dd', {}, `${p.method} on ${p.layer}`)));
}

function hpList(hp) {
  const flat = [];
  const walk = (obj, prefix) => Object.entries(obj).forEach(([k, v]) => (v && typeof v === 'object' ? walk(v, `${prefix}${k}.`) : flat.push([`${prefix}${k}`, v])));
  walk(hp, '');
  flat.sort((a, b) => a[0].localeCompare(b[0]));
  return el('dl.kv', { id: 'hyperparameters', style: 'grid-template-columns: max-content 1fr max-content 1fr' }, flat.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]));
}

async function promote(trial, button, out) {
  button.disabled = true;
  try {
    const model = window.prompt('Model name in the registry', 'brain-mri');
    if (!model) return;
    const alias = window.prompt('Alias to point at the new version (empty for none)', 'production');
    const result = await api('/api/models/promote', { method: 'POST', json: { studyId: trial.studyId, trialId: trial.id, model, alias: alias || undefined } });
    out.replaceChildren(el('div.notice.ok', { id: 'promote-result' }, `Promoted to ${result.model} v${result.version}${result.alias ? ` (${result.alias})` : ''}. `, el('a', { href: '/registry' }, 'Open the registry')));
  } catch (err) {
    out.replaceChildren(el('div.notice.error', {}, err.message));
  } finally {
    button.disabled = false;
  }
}

let live = null;

async function load() {
  const data = await api(`/api/ui/trials/${encodeURIComponent(trialId)}`);
  const t = data.trial;
  const out = el('div');
  const promoteButton = el('button', { id: 'promote-trial', disabled: !data.promotable, title: data.promotable ? '' : 'only a completed trial with a checkpoint can be promoted' }, 'Promote to registry');
  promoteButton.addEventListener('click', () => promote(t, promoteButton, out));
  const f1 = el('div.chart');
  const loss = el('div.chart');
  app.replaceChildren(...[
    el('div.row', {}, el('h1', {}, `Trial #${t.index}`), badge(t.status), el('span', { style: 'flex:1' }), promoteButton),
    el('div.sub', {}, 'study ', el('a', { href: `/studies/${t.studyId}` }, t.studyName), ` · ${t.id} · rung ${t.rung ?? '—'} · ${t.epochs} epochs · worker ${t.worker ?? '—'}`),
    out,
    t.error ? el('div.panel', {}, el('h2', {}, 'Error'), el('pre.report', { id: 'trial-error' }, t.error)) : null,
    el('div.grid2', {},
      el('div.panel', {}, el('h2', {}, 'Confusion matrix (validation)'), data.evaluation ? confusionMatrix(data.evaluation) : el('div.empty', {}, 'No evaluation yet.')),
      el('div.panel', {}, el('h2', {}, 'Classification report'), data.evaluation ? reportTable(data.evaluation.report) : el('div.empty', {}, 'No evaluation yet.'), data.reportText ? el('details', {}, el('summary', {}, 'as text'), el('pre.report', {}, data.reportText)) : null, calibrationNote(data.calibration)),
    ),
    testSetsTable(data.test ?? {}, data.evaluation?.classes ?? Object.keys(Object.values(data.test ?? {})[0]?.perClass ?? {})),
    pointingPanel(data.pointing),
    el('div.grid2', {}, el('div.panel', {}, el('h2', {}, 'Validation macro-F1 and accuracy'), f1), el('div.panel', {}, el('h2', {}, 'Loss (train and validation)'), loss)),
    el('div.grid2', {},
      el('div.panel', {}, el('h2', {}, 'Hyperparameters'), hpList(t.hyperparameters)),
      el('div.panel', {}, el('h2', {}, 'Checkpoint and rungs'),
        el('dl.kv', {}, el('dt', {}, 'checkpoint'), el('dd', {}, t.checkpointKey ?? '—'), el('dt', {}, 'objective'), el('dd', {}, fmt(t.objective)), el('dt', {}, 'bracket'), el('dd', {}, t.bracket ?? '—'), el('dt', {}, 'updated'), el('dd', {}, fmtTime(t.updatedAt))),
        el('table', { style: 'margin-top:12px' }, el('thead', {}, el('tr', {}, ['Rung', 'Epochs', 'Status', 'Score', 'Worker'].map((h) => el('th', {}, h)))),
          el('tbody', {}, data.rungs.map((r) => el('tr', {}, el('td', {}, r.rung), el('td', {}, `${r.fromEpoch} → ${r.toEpoch}`), el('td', {}, badge(r.status)), el('td.num', {}, fmt(r.score)), el('td', {}, r.worker ?? '—'))))),
      ),
    ),
  ].filter(Boolean));
  const epochs = data.epochs.map((e) => e.epoch);
  const series = (key, label) => ({ trialId: label, label, epochs, values: data.epochs.map((e) => e[key]) });
  if (epochs.length) {
    curveChart(f1, { curves: [series('valMacroF1', 'val macro-F1'), series('valAccuracy', 'val accuracy')], bestId: 'val macro-F1', yLabel: 'score' });
    curveChart(loss, { curves: [series('loss', 'train loss'), series('valLoss', 'val loss')], bestId: 'val loss', yLabel: 'loss' });
  } else {
    f1.append(el('div.empty', {}, 'No epoch finished yet.'));
  }
  // A trial still training follows its study's live events; a finished one stops listening.
  const training = ['running', 'paused'].includes(t.status);
  if (training && !live) {
    live = new EventSource(`/api/studies/${encodeURIComponent(t.studyId)}/events?since=${Date.now()}`);
    live.addEventListener('snapshot', () => load().catch(() => undefined));
  } else if (!training && live) {
    live.close();
    live = null;
  }
}

try {
  await load();
} catch (err) {
  app.replaceChildren(el('h1', {}, 'Trial'), el('div.notice.error', {}, err.message));
}
