import { api, classLabel, el, fmt, renderTopBar } from './common.js';

renderTopBar('predict');
const app = document.getElementById('app');

const modelSelect = el('select', { id: 'predict-model' });
const fileInput = el('input', { type: 'file', id: 'predict-file', accept: 'image/jpeg,image/png' });
const button = el('button', { id: 'predict-submit', type: 'submit' }, 'Predict');
const ttaInput = el('input', { type: 'checkbox', id: 'predict-tta' });
const result = el('div', { id: 'predict-result' });
const form = el('form.panel', {},
  el('h2', {}, 'Classify a scan'),
  el('div.row', {},
    el('div', {}, el('label', { for: 'predict-model' }, 'model version'), modelSelect),
    el('div', {}, el('label', { for: 'predict-file' }, 'scan (JPEG or PNG, ≤ 10 MB)'), fileInput),
    el('div', {}, el('label', { for: 'predict-tta', title: 'average the scan and its left–right mirror image' }, 'flip TTA'), ttaInput),
    el('div', {}, el('label', {}, '\u00a0'), button)),
);
app.replaceChildren(
  el('h1', {}, 'Predict'),
  el('div.sub', {}, 'Upload a brain MRI slice. The model gives a probability per class and a Grad-CAM map of the region that drove its decision. Decision support only — not a diagnosis.'),
  form,
  result,
);

async function loadModels() {
  const { models } = await api('/api/models?detail=1');
  const options = [];
  for (const m of models) {
    for (const [alias, v] of Object.entries(m.aliases)) options.push([`${m.name}@${alias}`, `${m.name} @ ${alias} (v${v})`]);
    for (const v of m.versions) options.push([`${m.name}@v${v.version}`, `${m.name} v${v.version}${v.kind === 'ensemble' ? ` (ensemble of ${v.members.length})` : ''}`]);
  }
  modelSelect.replaceChildren(...options.map(([value, text]) => el('option', { value }, text)));
  const production = options.find(([v]) => v.endsWith('@production'));
  if (production) modelSelect.value = production[0];
  if (!options.length) result.replaceChildren(el('div.notice.error', {}, 'No model in the registry yet: promote a trial first.'));
}

/** The triage line: confidence against the operating threshold chosen on validation. */
function triage(r) {
  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  const basis = r.threshold > 0 ? `confidence ${pct(r.confidence)}, threshold ${pct(r.threshold)}` : `confidence ${pct(r.confidence)}, no referral threshold (uncalibrated model)`;
  const extras = [r.tta ? 'flip TTA' : null, r.ensemble ? `ensemble of ${r.ensemble.members.length}` : null, r.temperature !== null && r.temperature !== 1 ? `temperature ${r.temperature.toFixed(2)}` : null].filter(Boolean);
  return r.refer
    ? el('div.notice.error', { id: 'triage', 'data-decision': 'refer' }, el('strong', {}, 'Refer to a radiologist'), ` — the model is not confident enough (${basis}; most likely ${classLabel(r.predicted)}).`, extras.length ? ` ${extras.join(' · ')}` : '')
    : el('div.notice', { id: 'triage', 'data-decision': r.decision }, `${basis}${extras.length ? ` · ${extras.join(' · ')}` : ''}`);
}

function render(r) {
  const order = r.classes.map((c, i) => [c, r.probabilities[i]]).sort((a, b) => b[1] - a[1]);
  const p = r.preprocessing;
  result.replaceChildren(
    triage(r),
    el('div.grid2', {},
      el('div.panel', {},
        el('h2', {}, 'Prediction: ', el('span', { id: 'predicted-class' }, r.refer ? 'refer to a radiologist' : classLabel(r.predicted))),
        el('div.bars', { id: 'probabilities' }, order.map(([c, prob], i) =>
          el(`div.bar${i === 0 ? '.top' : ''}`, { 'data-class': c }, el('span', {}, classLabel(c)), el('div.track', {}, el('div.fill', { style: `width:${(100 * prob).toFixed(1)}%` })), el('span.num', {}, `${(100 * prob).toFixed(1)}%`)))),
        el('div.muted', { style: 'margin-top:8px' }, `${r.model} v${r.version}${r.alias ? ` (${r.alias})` : ''} · Grad-CAM for “${classLabel(r.predicted)}” on layer ${r.gradcam.layer}`),
      ),
      el('div.panel', {},
        el('h2', {}, 'Preprocessing the model expects'),
        el('dl.kv', { id: 'preprocessing' },
          el('dt', {}, 'input'), el('dd', {}, `${p.imageSize} × ${p.imageSize} px, ${p.grayscale ? '1 channel (greyscale)' : 'RGB'}`),
          el('dt', {}, 'resize'), el('dd', {}, `${p.resize} (${p.kernel})`),
          el('dt', {}, 'acquisition'), el('dd', { id: 'acquisition' }, `${p.headCrop ? `head crop (margin ${p.cropMargin})` : 'no crop'} · intensity ${p.intensity ?? 'none'}`),
          el('dt', {}, 'pixel scale'), el('dd', {}, p.scale ?? '0–255 → 0–1'),
          el('dt', {}, 'your file'), el('dd', {}, `${r.input.format.toUpperCase()} ${r.input.width} × ${r.input.height}`),
        ),
      ),
    ),
    el('div.panel', {}, el('h2', {}, 'Where the model looked'),
      el('div.images', {},
        el('figure', {}, el('img', { src: r.images.scan, alt: 'scan', id: 'scan-image', class: 'scan' }), el('figcaption', {}, 'your scan')),
        el('figure', {}, el('img', { src: r.images.modelInput, alt: 'model input', id: 'model-input-image', class: 'scan pixelated' }), el('figcaption', {}, `what the model sees (${p.imageSize} px)`)),
        el('figure', {}, el('img', { src: r.images.gradcam, alt: 'Grad-CAM heatmap', id: 'gradcam-image', class: 'scan' }), el('figcaption', {}, 'Grad-CAM: red = strongest evidence for the predicted class')),
      ),
    ),
  );
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = fileInput.files?.[0];
  if (!file) {
    result.replaceChildren(el('div.notice.error', {}, 'Choose a JPEG or PNG scan first.'));
    return;
  }
  const body = new FormData();
  body.append('image', file);
  body.append('model', modelSelect.value);
  if (ttaInput.checked) body.append('tta', 'true');
  button.disabled = true;
  result.replaceChildren(el('div.empty', {}, 'Running the model…'));
  try {
    render(await api('/api/predict', { method: 'POST', body }));
  } catch (err) {
    result.replaceChildren(el('div.notice.error', {}, err.message));
  } finally {
    button.disabled = false;
  }
});

loadModels().catch((err) => result.replaceChildren(el('div.notice.error', {}, err.message)));
void fmt;
