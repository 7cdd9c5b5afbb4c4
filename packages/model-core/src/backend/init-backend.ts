/**
 * Chooses and initialises the TensorFlow.js backend for this process.
 *
 * Preference: tfjs-node-gpu → tfjs-node → wasm (+ braintune's training kernels) → cpu.
 * The two native packages are optional peer dependencies (their install downloads
 * libtensorflow), so they are loaded with a dynamic import and their absence is normal.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BraintuneError, EnvSchema, InvalidInputError, createLogger, type Logger } from '@braintune/protocol';
import { registerWasmTrainingKernels } from './register-wasm-kernels.js';

export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendInfo {
  /** braintune's name of the backend (tfjs registers both native ones as 'tensorflow'). */
  name: BackendName;
  /** The name tf.getBackend() reports. */
  tfBackend: string;
  device: 'gpu' | 'cpu';
  simd: boolean;
  threads: number;
  kernels: 'braintune-wasm' | 'stock';
}

export interface InitBackendOptions {
  /** Force one backend (overrides BRAINTUNE_BACKEND). */
  backend?: BackendName;
  logger?: Logger;
}

const INSTALL_HINT: Record<BackendName, string> = {
  'tensorflow-gpu':
    'install it with `npm install -w @braintune/model-core @tensorflow/tfjs-node-gpu@4.22.0` (needs CUDA/cuDNN and internet access for libtensorflow), or unset BRAINTUNE_BACKEND',
  tensorflow:
    'install it with `npm install -w @braintune/model-core @tensorflow/tfjs-node@4.22.0` (downloads libtensorflow), or unset BRAINTUNE_BACKEND',
  wasm: 'reinstall dependencies (`npm install`); @tensorflow/tfjs-backend-wasm is a dependency of @braintune/model-core',
  cpu: 'reinstall dependencies (`npm install`); @tensorflow/tfjs-backend-cpu is a dependency of @braintune/model-core',
};

let current: { info: BackendInfo; forced: BackendName | undefined } | undefined;
let pending: Promise<BackendInfo> | undefined;

/** Reads BRAINTUNE_BACKEND (validated) without requiring the rest of the environment to be valid. */
function backendFromEnv(): BackendName | undefined {
  const raw = process.env.BRAINTUNE_BACKEND;
  if (raw === undefined || raw === '') return undefined;
  const parsed = EnvSchema.shape.BRAINTUNE_BACKEND.safeParse(raw);
  if (!parsed.success || parsed.data === undefined) {
    throw new InvalidInputError(
      `BRAINTUNE_BACKEND=${raw} is not a backend braintune knows`,
      `use one of ${BACKEND_NAMES.join(', ')}, or unset it to pick automatically`,
    );
  }
  return parsed.data;
}

/** A module name held in a variable, so TypeScript does not require the optional package's types. */
async function importOptional(specifier: string): Promise<unknown> {
  return import(specifier);
}

async function loadNative(name: 'tensorflow-gpu' | 'tensorflow'): Promise<void> {
  await importOptional(name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
  if (!(await tf.setBackend('tensorflow'))) throw new Error('tf.setBackend("tensorflow") returned false');
}

async function loadWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // In Node the emscripten loader finds the .wasm next to its own script; pointing at the package's
  // dist/ explicitly keeps that working when the JS is bundled or loaded from elsewhere.
  const require = createRequire(import.meta.url);
  const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  wasm.setWasmPaths(`${distDir}${path.sep}`);
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  registerWasmTrainingKernels();
}

async function loadCpu(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") returned false');
}

async function load(name: BackendName): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return loadNative(name);
    case 'wasm':
      return loadWasm();
    case 'cpu':
      return loadCpu();
  }
}

async function describe(name: BackendName): Promise<BackendInfo> {
  const tfBackend = tf.getBackend();
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    return {
      name,
      tfBackend,
      device: 'cpu',
      simd: (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true,
      threads: wasm.getThreadsCount(),
      kernels: 'braintune-wasm',
    };
  }
  return {
    name,
    tfBackend,
    device: name === 'tensorflow-gpu' ? 'gpu' : 'cpu',
    simd: name !== 'cpu',
    threads: name === 'cpu' ? 1 : 0,
    kernels: 'stock',
  };
}

function isMissingModule(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

async function choose(forced: BackendName | undefined, log: Logger): Promise<BackendInfo> {
  const candidates: readonly BackendName[] = forced !== undefined ? [forced] : BACKEND_NAMES;
  for (const name of candidates) {
    try {
      await load(name);
      const info = await describe(name);
      log.info({ backend: info, forced: forced !== undefined }, `tfjs backend: ${name}`);
      return info;
    } catch (err) {
      if (forced !== undefined) {
        throw new BraintuneError(
          `the ${name} backend was requested (BRAINTUNE_BACKEND or --backend) but cannot be loaded: ${(err as Error).message}`,
          'backend_unavailable',
          INSTALL_HINT[name],
          { cause: err },
        );
      }
      // The native backends are optional: not being installed is the normal case.
      if (isMissingModule(err))
        log.debug({ backend: name }, `tfjs backend ${name} not installed; trying the next one`);
      else
        log.info(
          { backend: name, err: (err as Error).message },
          `tfjs backend ${name} failed to load; trying the next one`,
        );
    }
  }
  throw new BraintuneError(
    'no TensorFlow.js backend could be loaded',
    'backend_unavailable',
    INSTALL_HINT.cpu,
  );
}

/**
 * Initialises the best available backend (or the forced one) and returns what was chosen.
 * Safe to call many times: later calls return the same backend unless a different one is forced.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const forced = options.backend ?? backendFromEnv();
  if (pending !== undefined) await pending.catch(() => undefined);
  if (
    current !== undefined &&
    (forced === undefined || forced === current.info.name) &&
    tf.getBackend() === current.info.tfBackend
  ) {
    if (current.info.name === 'wasm') registerWasmTrainingKernels();
    return current.info;
  }
  // tfjs prints its own notices (e.g. the cpu backend's "install our node backend" banner)
  // with console.warn, which would interleave with our pino logs on stderr and CLI output.
  // PROD is the flag that silences them: in tfjs-core 4.22 it gates only its log/warn helpers
  // (the correctness checks hang on DEBUG, off by default). IS_TEST would also silence them but
  // turns on a per-kernel memory-leak check on every op.
  tf.env().set('PROD', true);
  const log = options.logger ?? createLogger('backend');
  pending = choose(forced, log);
  try {
    const info = await pending;
    current = { info, forced };
    return info;
  } finally {
    pending = undefined;
  }
}
