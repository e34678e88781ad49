// How the shell, watch mode and lm print a refused change (S6.2, S7.4):
// a transition's diagnostic names the version and its users, and a refusal
// that has oldUsers says which option loads it anyway. These are the
// renderings the shell and watch mode share (format.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Pid } from '../dist/index.js';
import { formatDiagnostic, formatWatchReport } from '../dist/shell/format.js';

const diagnostic = {
  file: `${process.cwd()}/src/room.ts`,
  line: 30,
  column: 17,
  message: 'Expected 2 arguments, but got 1.',
  code: 2554,
  category: 'error',
};

describe('S6.2 a refused transition, as printed', { timeout: 10_000 }, () => {
  test('a diagnostic as tsc prints it, and with its transition', () => {
    assert.equal(
      formatDiagnostic(diagnostic),
      'src/room.ts:30:17 - error TS2554: Expected 2 arguments, but got 1.',
    );
    assert.equal(
      formatDiagnostic({ ...diagnostic, transition: 'version 1, used by <0.85.0>' }),
      'src/room.ts:30:17 (version 1, used by <0.85.0>) - error TS2554: Expected 2 arguments, but got 1.',
    );
  });

  test("watch mode: the diagnostics, then a hint naming --old-code kill and { oldCode: 'kill' }", () => {
    const text = formatWatchReport({
      type: 'compile_failed',
      modules: ['room'],
      diagnostics: [{ ...diagnostic, transition: 'version 1, used by <0.85.0>' }],
      oldUsers: [{ module: 'room', pids: [new Pid(85)] }],
    });
    const lines = text.split('\n');
    assert.equal(lines[0], 'room: not loaded, 1 error; the running code is unchanged');
    assert.equal(
      lines[1],
      '  src/room.ts:30:17 (version 1, used by <0.85.0>) - error TS2554: Expected 2 arguments, but got 1.',
    );
    assert.match(
      lines[2],
      /^ {2}hint: .*<0\.85\.0> in room.*--old-code kill.*\{ oldCode: 'kill' \}/,
    );
    assert.equal(lines.length, 3);
  });

  test('a save that restores the running version', () => {
    assert.equal(
      formatWatchReport({ type: 'restored', module: 'counter', version: 'v2' }),
      'counter: back to the running version (v2); nothing to load',
    );
  });
});
