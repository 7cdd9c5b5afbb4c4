import path from 'node:path';
import { InvalidInputError, type Logger } from '@braintune/protocol';
import { DemoApi, type StudySummaryBody } from './api.js';
import { ensureDemoPhantoms, type DemoPhantomSpec } from './phantom-data.js';
import { followStudy } from '../live/follow-study.js';
import { describeSearched, formatDuration } from '../live/status-board.js';
import { DEFAULT_DEMO_CONFIG, DEMO_DEFAULTS, type DemoCliOptions } from './options.js';
import { loadDemoStudy } from './study-config.js';

export { DEFAULT_DEMO_CONFIG, DEMO_DEFAULTS, addDemoOptions, type DemoCliOptions } from './options.js';
export { demoPhantomDir } from './phantom-data.js';

/**
 * `braintune up --demo`: synthetic data, a small Hyperband study and the dashboard, on a fresh
 * clone without any download. `up` owns the cluster; this module only generates the phantoms,
 * submits the study through the REST API and follows it.
 */

/** The final line of `up --demo --exit-when-done` (the status line plus the demo's wall time). */
export interface DemoResult {
  studyId: string;
  state: StudySummaryBody['state'];
  trials: StudySummaryBody['trials'];
  rungs: StudySummaryBody['rungs'];
  epochs: number;
  best: {
    trialId: string;
    valMacroF1: number | null;
    valAccuracy: number | null;
    hyperparameters: NonNullable<StudySummaryBody['best']>['hyperparameters'];
  } | null;
  seconds: number;
}

function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidInputError(
      `${flag} must be a whole number ≥ 1, got "${raw}"`,
      `e.g. ${flag} ${fallback}`,
    );
  return n;
}

export interface RunningDemo {
  /** Resolves when the study ended and `--exit-when-done` asks `up` to stop; never otherwise. */
  stopRequested: Promise<'demo-finished'>;
  /** Prints the final JSON line (with --exit-when-done) and returns the process exit code. */
  finish(): number;
}

export interface PreparedDemo {
  start(cluster: { url: string; dashboard: boolean }): RunningDemo;
}

/**
 * Validates the demo flags, generates (or reuses) the phantoms under `<ARTIFACT_ROOT>/../demo`
 * and loads the study, all before the cluster starts so a mistake fails fast. Null without --demo.
 */
export async function prepareDemo(
  opts: DemoCliOptions,
  artifactRoot: string,
  log: Logger,
): Promise<PreparedDemo | null> {
  if (!opts.demo) {
    if (opts.exitWhenDone)
      throw new InvalidInputError(
        '--exit-when-done only applies to --demo',
        'add --demo, or leave --exit-when-done out',
      );
    return null;
  }
  const spec: DemoPhantomSpec = {
    perClass: positiveInt('--demo-per-class', opts.demoPerClass, DEMO_DEFAULTS.perClass),
    size: positiveInt('--demo-size', opts.demoSize, DEMO_DEFAULTS.size),
    seed: DEMO_DEFAULTS.seed,
  };
  const demoRoot = path.resolve(artifactRoot, '..', 'demo');
  const relative = path.relative(process.cwd(), demoRoot);
  const shown = relative && !relative.startsWith('..') ? relative : demoRoot;
  console.log(`demo: preparing ${spec.perClass * 4} phantom MRI slices (${spec.size} px) in ${shown}`);
  const phantoms = await ensureDemoPhantoms(demoRoot, spec, log);
  const study = await loadDemoStudy(path.resolve(opts.demoConfig ?? DEFAULT_DEMO_CONFIG), phantoms.dir);
  // Fixed values (`convBlocks: 2`) are part of the space but not searched: show only the others.
  const searched = Object.entries((study.searchSpace ?? {}) as Record<string, unknown>)
    .filter(([, value]) => typeof value === 'object' && value !== null)
    .map(([name]) => name);
  return { start: (cluster) => startDemo(cluster, study, searched, opts.exitWhenDone === true, log) };
}

function startDemo(
  cluster: { url: string; dashboard: boolean },
  study: Record<string, unknown>,
  searched: string[],
  exitWhenDone: boolean,
  log: Logger,
): RunningDemo {
  const api = new DemoApi(cluster.url);
  let result: DemoResult | null = null;
  let failure: unknown = null;

  const followed = (async (): Promise<void> => {
    const submitted = await api.submit(study);
    const studyId = submitted.studyId;
    const studyUrl = cluster.dashboard
      ? `${cluster.url}/studies/${studyId}`
      : `${cluster.url}/api/studies/${studyId}`;
    if (submitted.warning) console.log(`demo: warning: ${submitted.warning}`);
    console.log(
      `demo: dashboard ${cluster.url}/  study ${studyUrl}  (${submitted.plannedRungs ?? '?'} trial rungs planned)`,
    );
    const { summary } = await followStudy({
      snapshot: () => api.snapshot(studyId),
      searched,
      log,
      elapsed: () => process.uptime(),
    });
    const seconds = Math.round(process.uptime() * 10) / 10;
    const best = summary.best;
    console.log(
      `demo: study ${studyId} ${summary.state}${summary.error ? ` (${summary.error})` : ''} after ${formatDuration(seconds)}: ` +
        `${summary.trials.total} trials, ${summary.rungs.completed}/${summary.rungs.planned} rungs, ${summary.epochs} epochs`,
    );
    if (summary.endReason) console.log(`demo: ended early: ${summary.endReason}`);
    if (best) {
      const f1 = best.valMacroF1?.toFixed(3) ?? '—';
      const acc = best.valAccuracy?.toFixed(3) ?? '—';
      console.log(`demo: best trial ${best.trialId}: val macro-F1 ${f1}, val accuracy ${acc}`);
      console.log(`      ${describeSearched(best.hyperparameters, searched)}`);
    }
    if (!exitWhenDone)
      console.log(`demo: explore it at ${studyUrl}; the cluster keeps running, Ctrl-C stops it`);
    result = {
      studyId,
      state: summary.state,
      trials: summary.trials,
      rungs: summary.rungs,
      epochs: summary.epochs,
      best: best
        ? {
            trialId: best.trialId,
            valMacroF1: best.valMacroF1,
            valAccuracy: best.valAccuracy,
            hyperparameters: best.hyperparameters,
          }
        : null,
      seconds,
    };
  })().catch((err: unknown) => {
    failure = err;
    log.error({ err }, 'demo failed');
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  });

  return {
    stopRequested: exitWhenDone ? followed.then(() => 'demo-finished' as const) : new Promise(() => {}),
    finish(): number {
      // For scripts: on a terminal the lines above already said it all.
      if (exitWhenDone && result && !process.stdout.isTTY) console.log(JSON.stringify(result));
      return failure === null && result !== null && result.state === 'completed' ? 0 : exitWhenDone ? 1 : 0;
    },
  };
}
