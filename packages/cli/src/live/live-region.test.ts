import { describe, expect, it } from 'vitest';
import { LiveRegion } from './live-region.js';

/** A stream that records what was written; a terminal or not. */
function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const stream = {
    isTTY,
    columns: 40,
    text: '',
    write(chunk: string) {
      stream.text += chunk;
      return true;
    },
  };
  return stream as unknown as NodeJS.WriteStream & { text: string };
}

describe('LiveRegion', () => {
  it('on a terminal, erases its own lines before printing above and redrawing', () => {
    const out = fakeStream(true);
    const region = new LiveRegion(out);
    region.render(['status 1', 'workers 2']);
    expect(out.text).toBe('status 1\nworkers 2\n');
    out.text = '';
    region.print('a log line');
    // Two lines up, clear to the end, the line, then the block again.
    expect(out.text).toBe('\x1b[2F\x1b[0Ja log line\nstatus 1\nworkers 2\n');
    out.text = '';
    region.render(['status 2', 'x'.repeat(100)]);
    expect(out.text).toBe(`\x1b[2F\x1b[0Jstatus 2\n${'x'.repeat(38)}…\n`);
    region.close();
    out.text = '';
    region.print('after');
    expect(out.text).toBe('after\n');
  });

  it('without a terminal, prints lines through and draws nothing', () => {
    const out = fakeStream(false);
    const region = new LiveRegion(out);
    region.render(['status']);
    region.print('rung done');
    expect(out.text).toBe('rung done\n');
    expect(region.interactive).toBe(false);
  });
});
