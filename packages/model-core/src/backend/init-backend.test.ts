/** Backend selection: preference order, BRAINTUNE_BACKEND, clear errors, idempotence. */
import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { BraintuneError, InvalidInputError } from '@braintune/protocol';
import { initBackend } from './init-backend.js';
import { BRAINTUNE_WASM_KERNEL_NAMES } from './register-wasm-kernels.js';

process.env.LOG_LEVEL ??= 'silent';
const savedEnv = process.env.BRAINTUNE_BACKEND;

afterEach(() => {
  if (savedEnv === undefined) delete process.env.BRAINTUNE_BACKEND;
  else process.env.BRAINTUNE_BACKEND = savedEnv;
});

describe('initBackend', () => {
  it('falls back to wasm with braintune kernels when the native backends are not installed', async () => {
    delete process.env.BRAINTUNE_BACKEND;
    const info = await initBackend();
    // tfjs-node(-gpu) cannot be installed on this machine; on one where they are, this test
    // documents the preference order instead.
    expect(['tensorflow-gpu', 'tensorflow', 'wasm']).toContain(info.name);
    if (info.name === 'wasm') {
      expect(info).toMatchObject({ tfBackend: 'wasm', device: 'cpu', kernels: 'braintune-wasm' });
      expect(info.threads).toBeGreaterThanOrEqual(1);
      for (const name of BRAINTUNE_WASM_KERNEL_NAMES) expect(tf.getKernel(name, 'wasm')).toBeDefined();
    }
    expect(tf.getBackend()).toBe(info.tfBackend);
  });

  it('is idempotent', async () => {
    const a = await initBackend();
    const b = await initBackend();
    const [c, d] = await Promise.all([initBackend(), initBackend()]);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(d).toEqual(a);
  });

  it('honours BRAINTUNE_BACKEND and switches when another backend is forced', async () => {
    process.env.BRAINTUNE_BACKEND = 'cpu';
    const cpu = await initBackend();
    expect(cpu).toMatchObject({ name: 'cpu', tfBackend: 'cpu', kernels: 'stock' });
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await initBackend({ backend: 'wasm' });
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('explains how to install a forced backend that cannot load', async () => {
    process.env.BRAINTUNE_BACKEND = 'tensorflow';
    let caught: unknown;
    try {
      await initBackend();
    } catch (err) {
      caught = err;
    }
    if (caught === undefined) return; // tfjs-node is installed here: nothing to explain
    expect(caught).toBeInstanceOf(BraintuneError);
    const err = caught as BraintuneError;
    expect(err.code).toBe('backend_unavailable');
    expect(err.message).toMatch(/tensorflow/);
    expect(err.hint).toMatch(/npm install .*@tensorflow\/tfjs-node@/);
  });

  it('rejects an unknown BRAINTUNE_BACKEND', async () => {
    process.env.BRAINTUNE_BACKEND = 'webgpu';
    await expect(initBackend()).rejects.toBeInstanceOf(InvalidInputError);
  });
});
