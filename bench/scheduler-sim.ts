/**
 * `npm run bench:scheduler-sim [-- --trials 10000 --workers 50 --impl incremental,diff,reference --scheduler asha]`
 *
 * The cost of `Scheduler.decide` alone, without Postgres or Redis: an ASHA study (maxEpochs 27,
 * factor 3) of `--trials` trials run by the in-memory simulator with `--workers` simulated workers
 * and instant (1 virtual minute per epoch) training. `--scheduler hyperband` runs Hyperband
 * (27, 3) with as many iterations as give about `--trials` trials (49 per iteration), `random`
 * the baseline with 1 epoch per trial. Implementations:
 *   incremental  the production scheduler, handed the simulator's change journal (state.changes)
 *   diff         the production scheduler without a journal (it diffs the state every call)
 *   reference    the full-scan scheduler from before the incremental rewrite (packages/coordinator/test/reference-schedulers.ts)
 * Prints per implementation the decide p50/p99/max (ms), the total time inside decide and the wall
 * time of the whole simulated run, and whether every implementation made the same decisions.
 * Human-readable lines go to stderr; the last stdout line is JSON.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createScheduler } from '../packages/coordinator/src/scheduling/create-scheduler.js';
import { createReferenceScheduler } from '../packages/coordinator/test/reference-schedulers.js';
import { simulateStudy } from '../packages/coordinator/src/scheduling/simulate.js';
import { parseStudyConfig } from '../packages/coordinator/src/study/config.js';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '50' },
    impl: { type: 'string', default: 'incremental,diff,reference' },
    seed: { type: 'string', default: '1' },
    scheduler: { type: 'string', default: 'asha' },
  },
});
const TRIALS = Number(args.trials);
const WORKERS = Number(args.workers);
const IMPLS = args.impl.split(',').map((s) => s.trim()) as ('incremental' | 'diff' | 'reference')[];

const config = parseStudyConfig(
  [
    'name: bench-scheduler-sim',
    'dataset: {path: /none}',
    `seed: ${Number(args.seed)}`,
    'searchSpace: {learningRate: {type: float, min: 0.0001, max: 0.1, sampling: log}, convDropout: {type: float, min: 0, max: 0.5}}',
    `scheduler: ${
      args.scheduler === 'hyperband'
        ? `{type: hyperband, maxEpochs: 27, factor: 3, iterations: ${Math.max(1, Math.round(TRIALS / 49))}}`
        : args.scheduler === 'random'
          ? `{type: random, epochs: 1, maxTrials: ${TRIALS}}`
          : `{type: asha, maxEpochs: 27, minEpochs: 1, factor: 3, maxTrials: ${TRIALS}}`
    }`,
  ].join('\n'),
);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

const results: Record<string, unknown> = {};
const fingerprints = new Set<string>();
for (const impl of IMPLS) {
  const scheduler = impl === 'reference' ? createReferenceScheduler(config) : createScheduler(config);
  const digest = createHash('sha256');
  const started = performance.now();
  const run = simulateStudy({
    scheduler,
    workers: WORKERS,
    trackChanges: impl === 'incremental',
    onDecide: (call) => digest.update(JSON.stringify([call.idleSlots, call.decisions])),
  });
  const wallMs = performance.now() - started;
  const sorted = [...run.decideMs].sort((a, b) => a - b);
  const fingerprint = digest.digest('hex').slice(0, 16);
  fingerprints.add(fingerprint);
  const summary = {
    trials: run.trials,
    rungs: run.rungs,
    completion: run.completion?.reason ?? null,
    decideCalls: run.decideCalls,
    decisions: run.decisions,
    decideP50Ms: round(quantile(sorted, 0.5)),
    decideP90Ms: round(quantile(sorted, 0.9)),
    decideP99Ms: round(quantile(sorted, 0.99)),
    decideMaxMs: round(sorted[sorted.length - 1] ?? 0),
    decideTotalMs: Math.round(sorted.reduce((sum, ms) => sum + ms, 0)),
    /** Time inside decide per decision it returned. */
    usPerDecision: round((sorted.reduce((sum, ms) => sum + ms, 0) * 1000) / Math.max(1, run.decisions)),
    wallMs: Math.round(wallMs),
    decisionsFingerprint: fingerprint,
  };
  results[impl] = summary;
  console.error(`[bench:scheduler-sim] ${impl}: ${JSON.stringify(summary)}`);
}

console.log(
  JSON.stringify({
    bench: 'scheduler-sim',
    scheduler: JSON.stringify(config.scheduler),
    trials: TRIALS,
    workers: WORKERS,
    sameDecisions: fingerprints.size === 1,
    results,
  }),
);
