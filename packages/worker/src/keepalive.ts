import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Heartbeats and job-lock renewals from a separate thread.
 *
 * A training epoch runs synchronously (TensorFlow.js kernels, dataSync) and holds the main
 * event loop for its whole length — tens of seconds on real data. Timers on the main thread
 * (BullMQ's lock renewal, our heartbeat) would stall that long: the coordinator would see
 * the worker go offline and, worse, its job lock would expire and another worker would take
 * the job while this one still trains it. This thread has its own event loop and its own
 * Redis connection, so neither depends on how long an epoch takes.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Redis } = require(workerData.ioredisPath);
const redis = new Redis(workerData.redisUrl, { maxRetriesPerRequest: 1 });
redis.on('error', () => undefined);
// Extend a lock only while it still holds our token (as BullMQ's own extendLock does).
const EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
let info = null;
const locks = new Map();
async function beat() {
  if (info) {
    info.lastHeartbeat = Date.now();
    await redis.hset(workerData.workersKey, info.id, JSON.stringify(info)).catch(() => undefined);
  }
  for (const [jobId, lock] of locks) {
    const ok = await redis.eval(EXTEND, 1, lock.key, lock.token, String(lock.durationMs)).catch(() => -1);
    if (ok === 0) {
      locks.delete(jobId);
      parentPort.postMessage({ type: 'lost', jobId });
    }
  }
}
const timer = setInterval(() => void beat(), workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m.type === 'info') { info = m.info; void beat(); }
  else if (m.type === 'lock') locks.set(m.jobId, { key: m.key, token: m.token, durationMs: m.durationMs });
  else if (m.type === 'unlock') locks.delete(m.jobId);
  else if (m.type === 'stop') {
    clearInterval(timer);
    const done = () => { redis.disconnect(); parentPort.postMessage({ type: 'stopped' }); };
    if (m.removeId) redis.hdel(workerData.workersKey, m.removeId).then(done, done); else done();
  }
});
`;

export interface KeepaliveOptions {
  redisUrl: string;
  /** Redis hash of worker heartbeats. */
  workersKey: string;
  intervalMs: number;
  /** Called (on the main thread, between epochs at the latest) when a job's lock was lost. */
  onLostLock: (jobId: string) => void;
}

export class Keepalive {
  private readonly thread: Worker;

  constructor(options: KeepaliveOptions) {
    this.thread = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        redisUrl: options.redisUrl,
        workersKey: options.workersKey,
        intervalMs: options.intervalMs,
        ioredisPath: createRequire(import.meta.url).resolve('ioredis'),
      },
    });
    this.thread.on('message', (m: { type: string; jobId?: string }) => {
      if (m.type === 'lost' && m.jobId) options.onLostLock(m.jobId);
    });
    // The thread must not keep a stopping process alive.
    this.thread.unref();
  }

  /** The worker's current self-description (written with a fresh lastHeartbeat every interval). */
  publish(info: object): void {
    this.thread.postMessage({ type: 'info', info });
  }

  holdLock(jobId: string, key: string, token: string, durationMs: number): void {
    this.thread.postMessage({ type: 'lock', jobId, key, token, durationMs });
  }

  releaseLock(jobId: string): void {
    this.thread.postMessage({ type: 'unlock', jobId });
  }

  /** Stops heartbeating; with `removeId`, deletes the worker's registration. */
  async stop(removeId?: string): Promise<void> {
    await new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, 2000);
      this.thread.on('message', (m: { type: string }) => {
        if (m.type === 'stopped') {
          clearTimeout(timeout);
          resolve();
        }
      });
      this.thread.postMessage({ type: 'stop', removeId });
    });
    await this.thread.terminate();
  }
}
