// S6.2: the gate judges modules by the nearest tsconfig.json at or above their
// source directory (up to the project root), as an editor does — so a project
// whose modules live in examples/ with an examples/tsconfig.json (this
// repository's `npm start`) is not judged by the root's tsconfig, written for
// other code.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { c, start, stop } from '../dist/index.js';
import { project } from './helpers.js';

const nodenext = {
  compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true },
};
const bundler = {
  compilerOptions: {
    module: 'ESNext',
    moduleResolution: 'Bundler',
    strict: true,
    noEmit: true,
    moduleDetection: 'force',
  },
};

after(() => stop());

describe('S6.2 which tsconfig.json judges the modules', () => {
  it("the source directory's own tsconfig.json wins over the root's", async () => {
    const p = project();
    writeFileSync(join(p.dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(p.dir, 'tsconfig.json'), JSON.stringify(nodenext));
    const lib = join(p.dir, 'lib');
    mkdirSync(lib);
    writeFileSync(
      join(lib, 'selfish.ts'),
      "import * as self from './selfish';\nexport function f(): number { return self.g(); }\nexport function g(): number { return 1; }\n",
    );
    await start({ root: p.dir, src: 'lib', out: 'ebin' });
    // judged by the root's nodenext config: './selfish' needs an extension (TS2835)
    const refused = await c('selfish');
    assert.equal(refused.error, 'compile');
    assert.equal(refused.diagnostics[0].code, 2835);
    // with lib/tsconfig.json (bundler resolution) the same source is fine
    writeFileSync(join(lib, 'tsconfig.json'), JSON.stringify(bundler));
    await stop();
    await start({ root: p.dir, src: 'lib', out: 'ebin' });
    assert.deepEqual(await c('selfish'), { module: 'selfish' });
  });
});
