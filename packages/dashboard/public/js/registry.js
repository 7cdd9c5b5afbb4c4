import { api, badge, el, fmt, fmtTime, param, renderTopBar, shortId } from './common.js';

renderTopBar('registry');
const app = document.getElementById('app');

const modelsBox = el('div', { id: 'models' });
const promoteBox = el('div.panel', { id: 'promote' });
app.replaceChildren(
  el('h1', {}, 'Model registry'),
  el('div.sub', {}, 'Versions are immutable copies of a trial checkpoint. Aliases (production, staging, …) point at a version; moving one back is a rollback, and every move is recorded.'),
  promoteBox,
  modelsBox,
);

function calibrationLine(c) {
  if (!c) return null;
  const op = c.operatingPoint;
  return el('div.muted.calibration', {}, `T ${c.temperature.toFixed(2)} · ECE ${fmt(c.eceBefore)} → ${fmt(c.eceAfter)} · refer < ${fmt(op.threshold)}: ${(100 * op.referralRate).toFixed(1)}% referred, ${(100 * op.acceptedErrorRate).toFixed(1)}% errors on the rest`);
}

function metricsCell(v) {
  const m = v.metrics;
  if (v.kind === 'ensemble')
    return el('span', {}, el('span.badge.alias', {}, `ensemble of ${v.members.length}`), el('div.muted', {}, 'averages calibrated probabilities'),
      el('ol.members', {}, v.members.map((x) => el('li', {}, el('a', { href: `/trials/${x.trialId}` }, shortId(x.trialId)), ` · acc ${fmt(x.valAccuracy)} · F1 ${fmt(x.valMacroF1)}${x.temperature !== null ? ` · T ${x.temperature.toFixed(2)}` : ''}`))));
  if (!m) return '—';
  const glioma = Object.entries(m.recall ?? {}).find(([c]) => /glioma/.test(c));
  return el('span', {}, `acc ${fmt(m.valAccuracy)} · F1 ${fmt(m.valMacroF1)}`, glioma ? el('span.muted', {}, ` · glioma recall ${fmt(glioma[1])}`) : null, calibrationLine(m.calibration));
}

/** External test-set scores copied on promote: shown under, never merged into, the validation metrics. */
function testCell(test) {
  const names = Object.keys(test ?? {});
  if (!names.length) return null;
  return el('div.muted.test-scores', {}, names.map((n) => `test ${n}: acc ${fmt(test[n].accuracy)} · F1 ${fmt(test[n].macroF1)}`).join(' · '));
}

async function setAlias(model, alias, version, out) {
  try {
    await api(`/api/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(alias)}`, { method: 'PUT', json: { version } });
    out.replaceChildren(el('div.notice.ok', {}, `${alias} → v${version}`));
    await loadModels();
  } catch (err) {
    out.replaceChildren(el('div.notice.error', {}, err.message));
  }
}

/** An alias can be rolled back when its last move came from another version. */
function canRollBack(m, alias) {
  const last = m.history.find((h) => h.alias === alias);
  return Boolean(last && last.fromVersion !== null);
}

async function rollback(model, alias, out) {
  if (!window.confirm(`Move ${alias} of ${model} back to the version it held before?`)) return;
  try {
    const r = await api(`/api/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(alias)}/rollback`, { method: 'POST' });
    out.replaceChildren(el('div.notice.ok', {}, `${alias}: v${r.previous} → v${r.version} (rolled back)`));
    await loadModels();
  } catch (err) {
    out.replaceChildren(el('div.notice.error', {}, err.message));
  }
}

function modelPanel(m) {
  const out = el('div');
  const aliasName = el('input', { value: 'production', size: 12, 'aria-label': 'alias', class: 'alias-name' });
  return el('div.panel', { 'data-model': m.name },
    el('div.row', {}, el('h2', { style: 'flex:1;margin:0' }, m.name), ...Object.entries(m.aliases).map(([a, v]) =>
      el('span.alias-chip', {}, el('span.badge.alias', {}, `${a} → v${v}`), canRollBack(m, a) ? el('button.link.rollback', { type: 'button', 'data-alias': a, title: `move ${a} back to the version it held before`, onclick: () => rollback(m.name, a, out) }, '↶ roll back') : null))),
    out,
    el('div.row', { style: 'margin:8px 0' }, el('label', { style: 'margin:0' }, 'alias to move'), aliasName, el('span.muted', {}, 'then press “point here” on a version')),
    el('table', {},
      el('thead', {}, el('tr', {}, ['Version', 'Source', 'Metrics', 'Aliases', 'Created', '', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, m.versions.map((v) =>
        el('tr', { 'data-version': v.version, 'data-kind': v.kind },
          el('td', {}, el('strong', {}, `v${v.version}`)),
          el('td', {}, el('a', { href: `/trials/${v.trialId}` }, `trial ${shortId(v.trialId)}`), el('div.muted', {}, el('a', { href: `/studies/${v.studyId}` }, v.studyName ?? shortId(v.studyId)))),
          el('td', {}, metricsCell(v), testCell(v.test)),
          el('td', {}, v.aliases.map((a) => el('span.badge.alias', { style: 'margin-right:4px' }, a))),
          el('td', {}, fmtTime(v.createdAt), el('div.muted', {}, `by ${v.createdBy}`)),
          el('td', {}, el('button.secondary.point-alias', { type: 'button', onclick: () => setAlias(m.name, aliasName.value.trim(), v.version, out) }, 'point here')),
          el('td', {}, el('a', { href: `/api/models/${encodeURIComponent(m.name)}/versions/${v.version}/download`, download: '' }, 'download (tfjs zip)')),
        ),
      )),
    ),
    el('h2', { style: 'margin-top:16px' }, 'Alias history'),
    m.history.length
      ? el('table', { class: 'alias-history' },
          el('thead', {}, el('tr', {}, ['When', 'Alias', 'Change', 'By'].map((h) => el('th', {}, h)))),
          el('tbody', {}, m.history.map((h) => el('tr', {}, el('td', {}, fmtTime(h.at)), el('td', {}, h.alias), el('td', {}, h.fromVersion === null ? `set to v${h.toVersion}` : `v${h.fromVersion} → v${h.toVersion}`, h.rollback ? el('span.badge.queued', { style: 'margin-left:6px' }, 'rollback') : null), el('td', {}, h.by)))))
      : el('div.muted', {}, 'No alias set yet.'),
  );
}

async function loadModels() {
  try {
    const { models } = await api('/api/models?detail=1');
    modelsBox.replaceChildren(...(models.length ? models.map(modelPanel) : [el('div.panel.empty', {}, 'No model yet — promote a completed trial above.')]));
  } catch (err) {
    modelsBox.replaceChildren(el('div.notice.error', {}, err.message));
  }
}

async function renderPromote() {
  const { studies } = await api('/api/ui/studies');
  const studySelect = el('select', { id: 'promote-study' }, studies.map((s) => el('option', { value: s.id }, `${s.name} (${shortId(s.id)})`)));
  const trialSelect = el('select', { id: 'promote-trial' });
  const modelInput = el('input', { id: 'promote-model', value: 'brain-mri' });
  const aliasInput = el('input', { id: 'promote-alias', value: 'production' });
  const topInput = el('input', { id: 'promote-top', type: 'number', min: 1, max: 10, value: 1, size: 3, title: 'K > 1: one ensemble version of the K best trials' });
  const out = el('div');
  const wanted = param('study');
  if (wanted) studySelect.value = wanted;
  async function loadTrials() {
    trialSelect.replaceChildren();
    if (!studySelect.value) return;
    const snap = await api(`/api/ui/studies/${studySelect.value}`);
    const done = snap.rows.filter((r) => r.promotable);
    trialSelect.append(...done.map((r) => el('option', { value: r.trialId }, `${r.trialId === snap.bestTrialId ? '★ best · ' : ''}#${r.index} · ${snap.study.objective.metric} ${fmt(r.objective)}${r.violations.length ? ' · misses constraints' : ''}`)));
    if (snap.bestTrialId && done.some((r) => r.trialId === snap.bestTrialId)) trialSelect.value = snap.bestTrialId;
  }
  studySelect.addEventListener('change', loadTrials);
  const button = el('button', { id: 'promote-submit', type: 'button' }, 'Promote');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const r = await api('/api/models/promote', { method: 'POST', json: { studyId: studySelect.value, ...(Number(topInput.value) > 1 ? { top: Number(topInput.value) } : { trialId: trialSelect.value || undefined }), model: modelInput.value.trim(), alias: aliasInput.value.trim() || undefined } });
      out.replaceChildren(el('div.notice.ok', {}, `Created ${r.model} v${r.version}${r.members ? ` (ensemble of ${r.members.length})` : ''}${r.alias ? `; ${r.alias} → v${r.version}` : ''}.`));
      await loadModels();
    } catch (err) {
      out.replaceChildren(el('div.notice.error', {}, err.message));
    } finally {
      button.disabled = false;
    }
  });
  promoteBox.replaceChildren(
    el('h2', {}, 'Promote a trial'),
    studies.length
      ? el('div.row', {},
          el('div', {}, el('label', {}, 'study'), studySelect),
          el('div', {}, el('label', {}, 'completed trial (default: the best)'), trialSelect),
          el('div', {}, el('label', { for: 'promote-top' }, 'or ensemble of the top K'), topInput),
          el('div', {}, el('label', {}, 'model'), modelInput),
          el('div', {}, el('label', {}, 'alias (optional)'), aliasInput),
          el('div', {}, el('label', {}, '\u00a0'), button))
      : el('div.muted', {}, 'No study yet.'),
    out,
  );
  await loadTrials();
}

await Promise.all([renderPromote().catch((err) => promoteBox.replaceChildren(el('div.notice.error', {}, err.message))), loadModels()]);
void badge;
