import { api, badge, el, fmt, fmtDuration, renderTopBar, showError, shortId } from './common.js';

renderTopBar('studies');
const app = document.getElementById('app');

const EXAMPLE = `name: tiny-hyperband
dataset:
  path: ../shared/datasets/brain-tumor-mri
  imageSize: 32
  valFraction: 0.2
  seed: 1
searchSpace:
  learningRate: { type: float, min: 0.0001, max: 0.01, sampling: log }
  denseUnits: { type: choice, values: [32, 64] }
scheduler: { type: hyperband, maxEpochs: 3, factor: 3, iterations: 1 }
objective: { metric: val_macro_f1, direction: max }
constraints:
  - { metric: "val_recall:glioma_tumor", min: 0.8 }
budget: { maxTrials: 10, maxWallClockMinutes: 30 }
seed: 7
`;

const listBody = el('tbody');
const table = el(
  'table',
  {},
  el('thead', {}, el('tr', {}, ['Study', 'State', 'Scheduler', 'Progress (rungs)', 'Trials', 'Best objective', 'Elapsed', 'Created'].map((h) => el('th', {}, h)))),
  listBody,
);

const textarea = el('textarea', { id: 'config', name: 'config', spellcheck: 'false', placeholder: 'Paste a study config (YAML or JSON)…' });
textarea.value = EXAMPLE;
const fieldErrors = el('ul.field-errors', { id: 'config-errors' });
const field = el('div.field', {}, el('label', { for: 'config' }, 'Study config (YAML or JSON)'), textarea, fieldErrors);
const fileInput = el('input', { type: 'file', accept: '.yaml,.yml,.json,application/json,text/yaml', id: 'config-file' });
fileInput.addEventListener('change', async () => {
  const file = fileInput.files?.[0];
  if (file) textarea.value = await file.text();
});
const status = el('div', { id: 'submit-status' });
const submit = el('button', { type: 'submit', id: 'submit-study' }, 'Submit study');
const form = el(
  'form.panel',
  { id: 'submit-form' },
  el('h2', {}, 'Submit a study'),
  field,
  el('div.row', {}, el('label', { for: 'config-file', style: 'margin:0' }, 'or upload a file'), fileInput, el('span', { style: 'flex:1' }), submit),
  status,
);
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  fieldErrors.replaceChildren();
  field.classList.remove('invalid');
  status.replaceChildren();
  submit.disabled = true;
  try {
    const source = textarea.value;
    const type = /^\s*[{[]/.test(source) ? 'application/json' : 'application/yaml';
    const result = await api('/api/studies', { method: 'POST', headers: { 'Content-Type': type }, body: source });
    status.replaceChildren(el('div.notice.ok', {}, 'Study submitted: ', el('a', { href: `/studies/${result.studyId}`, id: 'new-study-link' }, result.studyId)));
    await refresh();
  } catch (err) {
    field.classList.add('invalid');
    for (const issue of configIssues(err)) {
      const line = lineOf(textarea.value, issue.path);
      fieldErrors.append(el('li', {}, issue.path ? el('code', {}, issue.path) : null, issue.path ? ': ' : '', issue.message, line ? el('span.muted', {}, ` (line ${line})`) : null));
    }
  } finally {
    submit.disabled = false;
  }
});

/** The line of the config where a field path (`scheduler.maxEpochs`, `constraints.0.min`) is written, if it can be found. */
function lineOf(text, path) {
  const names = (path ?? '').split('.').filter((p) => p && !/^\d+$/.test(p));
  if (!names.length) return null;
  const lines = text.split('\n');
  let from = 0;
  let found = null;
  for (const name of names) {
    const re = new RegExp(`(^|[\\s{,])"?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?\\s*:`);
    const at = lines.findIndex((l, i) => i >= from && re.test(l));
    if (at === -1) return found;
    found = at + 1;
    from = at;
  }
  return found;
}

/** Field errors of a rejected config: the API's `issues`, or the "  - path: message" lines of its error. */
function configIssues(err) {
  const body = err.body ?? {};
  if (Array.isArray(body.issues) && body.issues.length) return body.issues.map((i) => ({ path: i.path === '(root)' ? '' : i.path, message: i.message }));
  const text = typeof body === 'object' ? String(body.message ?? body.error ?? err.message) : String(body);
  const lines = text.split('\n').map((l) => /^\s*-\s+(.*)$/.exec(l)?.[1]).filter(Boolean);
  const parsed = lines.map((l) => {
    const at = l.indexOf(': ');
    return at > 0 ? { path: l.slice(0, at), message: l.slice(at + 2) } : { path: '', message: l };
  });
  const out = parsed.length ? parsed : [{ path: '', message: text }];
  if (body.hint && !parsed.length) out.push({ path: '', message: body.hint });
  return out;
}

const listPanel = el('div.panel', {}, el('h2', {}, 'Studies'), el('div.scroll', {}, table));
app.replaceChildren(el('h1', {}, 'Studies'), el('div.sub', {}, 'Hyperparameter searches for the brain-MRI classifier. Click a study to watch it live.'), listPanel, form);

function progressCell(rungs) {
  const planned = rungs.planned;
  const pct = planned ? Math.min(100, (100 * rungs.completed) / planned) : 0;
  return el('td', {}, planned ? el('span.progress', {}, el('div', { style: `width:${pct}%` })) : null, `${rungs.completed} / ${planned ?? '?'}`);
}

async function refresh() {
  try {
    const { studies } = await api('/api/ui/studies');
    if (!studies.length) {
      listBody.replaceChildren(el('tr', {}, el('td.empty', { colspan: 8 }, 'No study yet — submit one below.')));
      return;
    }
    listBody.replaceChildren(
      ...studies.map((s) =>
        el(
          'tr',
          { 'data-study': s.id },
          el('td', {}, el('a', { href: `/studies/${s.id}` }, s.name), el('div.muted', {}, shortId(s.id))),
          el('td', {}, badge(s.state), s.error ? el('div.viol', { title: s.error }, s.error.length > 60 ? s.error.slice(0, 57) + '…' : s.error) : null),
          el('td', {}, s.scheduler),
          progressCell(s.rungs),
          el('td.num', {}, `${s.trials.completed} done · ${s.trials.running} running · ${s.trials.total} total`),
          el('td.num', {}, s.best ? `${fmt(s.best.objective)} ` : '—', s.best ? el('span.muted', {}, s.objective.metric) : null),
          el('td.num', {}, fmtDuration(s.elapsedMs)),
          el('td', {}, new Date(s.createdAt).toLocaleString()),
        ),
      ),
    );
  } catch (err) {
    showError(listBody, err);
  }
}

await refresh();
setInterval(refresh, 3000);
