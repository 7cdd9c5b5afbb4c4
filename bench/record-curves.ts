/**
 * `npm run bench:record-curves [-- --configs 48 --epochs 9 --image-size 32 --max-cpu-minutes 40
 *  --max-wall-minutes 60]`:
 * records the learning curves that `bench:search-sim` replays. Configurations are drawn with the
 * study sampler from bench/data/search-space.yaml, a frozen copy of the example's space (seed 7, the same draw as
 * trial k of a random study), trained on the shared data set at a small image size (32 px: the
 * curves rank configurations like the 64 px ones at a sixteenth of the cost) for `--epochs`
 * epochs each, with the example's cosine horizon stretched to those epochs.
 *
 * Resumable: every finished configuration is appended to bench/data/curves.json (written
 * atomically), a restart skips the ones recorded and refuses a file recorded on another data
 * set bundle (a change to data preparation or the split changes the bundle hash: start a new
 * file then, curves of two bundles are not comparable). Killing it loses only the configuration
 * in training. Stops when `--configs` are recorded, the recorded CPU time passes
 * `--max-cpu-minutes`, or this run has been going `--max-wall-minutes` (checked before each
 * configuration, so a deadline-bound run ends cleanly). Run it under `nice -n 10`: it is a
 * background job on a shared machine; one training at a time.
 * Last stdout line: one JSON object.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { FilesystemArtifactStore } from '../packages/artifacts/src/index.js';
import { initBackend, train } from '../packages/model-core/src/index.js';
import { loadBundle, prepareDataset } from '../packages/model-core/src/dataset/index.js';
import { parseSearchSpace, SearchSpaceSampler, trialSeed } from '../packages/coordinator/src/study/index.js';
import { CurvesFileSchema, type CurvesFile, type RecordedCurve } from './search-sim/curves.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const configs = Number(arg('configs', '48'));
const epochs = Number(arg('epochs', '9'));
const imageSize = Number(arg('image-size', '32'));
const maxCpuMinutes = Number(arg('max-cpu-minutes', '40'));
const maxWallMinutes = Number(arg('max-wall-minutes', 'Infinity'));
const startedAt = performance.now();
const dataDir = path.resolve(REPO, arg('data', '../shared/datasets/brain-tumor-mri'));
const outFile = path.resolve(REPO, arg('out', 'bench/data/curves.json'));
const log = (...parts: unknown[]): void => console.error('[record-curves]', ...parts);
process.env.LOG_LEVEL ??= 'warn';

if (!existsSync(dataDir)) {
  log(`data set not found at ${dataDir}: pass --data DIR`);
  console.log(JSON.stringify({ bench: 'record-curves', skipped: true }));
  process.exit(0);
}

const example = parseYaml(await readFile(path.join(REPO, 'bench/data/search-space.yaml'), 'utf8')) as {
  searchSpace: Record<string, unknown>;
  seed: number;
  dataset: { valFraction: number; seed: number };
};
// The cosine schedule spans the recorded epochs, as it spans the longest rung in the example.
const rawSpace = { ...example.searchSpace, scheduleEpochs: epochs };
const { space, problems } = parseSearchSpace(rawSpace);
if (problems.length > 0) throw new Error(`bench/data/search-space.yaml: ${problems.join('; ')}`);

const store = new FilesystemArtifactStore(path.join(REPO, '.braintune/record-curves/artifacts'));
const prepared = await prepareDataset({
  store,
  dataDir,
  imageSize,
  valFraction: example.dataset.valFraction,
  seed: example.dataset.seed,
});
const bundle = await loadBundle(store, prepared.hash);
log(
  `bundle ${prepared.hash.slice(0, 12)}: ${bundle.split.train.length} train, ${bundle.split.val.length} val`,
);

let file: CurvesFile = {
  format: 1,
  datasetHash: prepared.hash,
  imageSize,
  epochs,
  studySeed: example.seed,
  searchSpace: rawSpace,
  curves: [],
};
if (existsSync(outFile)) {
  const existing = CurvesFileSchema.parse(JSON.parse(await readFile(outFile, 'utf8')));
  if (
    existing.datasetHash !== prepared.hash ||
    existing.epochs !== epochs ||
    existing.imageSize !== imageSize
  )
    throw new Error(
      `${outFile} was recorded on bundle ${existing.datasetHash.slice(0, 12)} (${existing.imageSize} px, ${existing.epochs} epochs); move it away or pass --out`,
    );
  file = existing;
}

async function save(): Promise<void> {
  await mkdir(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.tmp`;
  await writeFile(tmp, `${JSON.stringify(file, null, 1)}\n`);
  await rename(tmp, outFile);
}

await initBackend();
const sampler = new SearchSpaceSampler(space, example.seed);
const tried = new Set<string>();
for (let index = 0; index < configs; index++) {
  const proposal = sampler.propose(index, tried);
  if (!proposal) break;
  tried.add(proposal.hpHash);
  if (file.curves.some((c) => c.index === index)) continue;
  const cpuSoFar = file.curves.reduce((s, c) => s + c.cpuSeconds, 0);
  if (cpuSoFar > maxCpuMinutes * 60) {
    log(`CPU budget of ${maxCpuMinutes} min spent (${(cpuSoFar / 60).toFixed(1)} min): stopping`);
    break;
  }
  if (performance.now() - startedAt > maxWallMinutes * 60_000) {
    log(`${maxWallMinutes} wall-clock minutes passed: stopping`);
    break;
  }
  const hparams = { ...proposal.hyperparameters, imageSize };
  const seed = trialSeed(example.seed, index);
  const cpuMark = process.cpuUsage();
  const result = await train({ bundle, hparams, toEpoch: epochs, seed });
  result.model.dispose();
  const cpu = process.cpuUsage(cpuMark);
  const curve: RecordedCurve = {
    index,
    seed,
    hyperparameters: hparams,
    outcome: result.outcome,
    cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
    epochs: result.history.map((m) => ({
      epoch: m.epoch,
      loss: round(m.loss),
      valLoss: round(m.valLoss),
      valAccuracy: round(m.valAccuracy),
      valMacroF1: round(m.valMacroF1),
    })),
  };
  file.curves.push(curve);
  file.curves.sort((a, b) => a.index - b.index);
  await save();
  const last = curve.epochs.at(-1);
  log(
    `config ${index}: ${curve.outcome}, val acc ${last?.valAccuracy ?? 'n/a'}, ${curve.cpuSeconds} s CPU (${file.curves.length} recorded)`,
  );
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : x;
}

const cpuMinutes = file.curves.reduce((s, c) => s + c.cpuSeconds, 0) / 60;
console.log(
  JSON.stringify({
    bench: 'record-curves',
    datasetHash: file.datasetHash,
    curves: file.curves.length,
    epochs,
    imageSize,
    cpuMinutes: Math.round(cpuMinutes * 10) / 10,
    bestFinalValAccuracy: Math.max(...file.curves.map((c) => c.epochs.at(-1)?.valAccuracy ?? 0)),
  }),
);
