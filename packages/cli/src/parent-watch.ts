/**
 * Lets a child of `braintune up` notice that its parent died, even by SIGKILL (which runs no
 * handler there): the IPC channel closes, or the parent pid stops being ours (we were adopted
 * by init or a subreaper). Either resolves the promise; the caller shuts down.
 */
export const PARENT_PID_ENV = 'BRAINTUNE_PARENT_PID';

export function parentGone(pollMs = 1000): Promise<'parent-gone'> | null {
  const raw = process.env[PARENT_PID_ENV];
  const parentPid = raw === undefined ? NaN : Number(raw);
  const hasChannel = typeof process.send === 'function';
  if (!hasChannel && !Number.isInteger(parentPid)) return null;
  return new Promise((resolve) => {
    if (hasChannel) {
      process.once('disconnect', () => resolve('parent-gone'));
      // The channel must not keep an otherwise finished process alive.
      process.channel?.unref();
    }
    if (Number.isInteger(parentPid)) {
      const timer = setInterval(() => {
        if (process.ppid !== parentPid) {
          clearInterval(timer);
          resolve('parent-gone');
        }
      }, pollMs);
      timer.unref();
    }
  });
}
