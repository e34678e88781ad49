// Shared by the observer's browser tests: where screenshots go.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The run's output folder for screenshots ($HOTCODE_TEST_OUTPUT, else a fresh temp folder). */
export const OUTPUT =
  process.env.HOTCODE_TEST_OUTPUT !== undefined
    ? join(process.env.HOTCODE_TEST_OUTPUT, 'observer')
    : join(
        tmpdir(),
        'hotcode-test-output',
        `observer-${new Date().toISOString().slice(0, 16).replace(/[:.]/g, '-')}`,
      );
mkdirSync(OUTPUT, { recursive: true });
