import { describe, expect, it } from 'vitest';
import { formatLogLine } from './log-format.js';

describe('formatLogLine', () => {
  const at = new Date(2026, 0, 2, 14, 3, 7).getTime();

  it('turns a pino line into time, level, component, message and a few short fields', () => {
    const line = JSON.stringify({
      level: 30,
      time: at,
      pid: 42,
      hostname: 'h',
      component: 'coordinator',
      msg: 'rung finished',
      trialId: 'st-1:3',
      valMacroF1: 0.912345678,
      note: 'two words',
    });
    expect(formatLogLine(line, false)).toBe(
      '14:03:07 INFO  coordinator: rung finished trialId=st-1:3 valMacroF1=0.9123 note="two words"',
    );
  });

  it('shows an error by its message, cuts long values and keeps plain text as it is', () => {
    const line = JSON.stringify({
      level: 50,
      time: at,
      component: 'worker',
      msg: 'rung failed',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n at x' },
      hash: 'a'.repeat(100),
    });
    const out = formatLogLine(line, false);
    expect(out).toMatch(/^14:03:07 ERROR worker: rung failed \(boom\) hash=a{31}…$/);
    expect(out).not.toContain('\n');
    expect(formatLogLine('not json', false)).toBe('not json');
  });
});
