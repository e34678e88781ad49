// What the published package carries (S6.6, S7.5): the runtime's object files
// record no path of the machine that built them, a LICENSE matching
// package.json, and documentation whose links work both in the repository and
// in the tarball, citing docs/semantics.md rather than a file users do not have.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Is `rel` (relative to the root) in the tarball? npm packs `files`, plus package.json, README and LICENSE. */
function published(rel) {
  if (['package.json', 'README.md', 'LICENSE'].includes(rel)) return true;
  return pkg.files.some((f) => rel === f || rel.startsWith(`${f}/`));
}

/** GitHub's anchor of a heading. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file) {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

describe('the package', { timeout: 30_000 }, () => {
  test("the runtime's object files record a path inside the package, not the build machine's", () => {
    const ebin = join(root, 'dist', 'stdlib', 'ebin');
    const files = readdirSync(ebin).filter((f) => f.endsWith('.js'));
    assert.ok(files.includes('genServer.js'), 'built');
    for (const f of files) {
      const text = readFileSync(join(ebin, f), 'utf8');
      const header = JSON.parse(text.slice('//hotcode '.length, text.indexOf('\n')));
      assert.equal(header.source, `hotcode/src/stdlib/${f.replace(/\.js$/, '.ts')}`);
      assert.ok(!text.includes(root), `${f} records ${root}`);
    }
  });

  test('a LICENSE that says what package.json says, and is published', () => {
    assert.equal(pkg.license, 'Apache-2.0');
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    assert.match(license, /^Apache License\s+Version 2\.0, January 2004/);
    assert.match(license, /END OF TERMS AND CONDITIONS/);
    assert.ok(pkg.files.includes('LICENSE'));
  });

  test('every link of the README and docs/ leads to a published file (and heading)', () => {
    const broken = [];
    for (const doc of docs) {
      const file = join(root, doc);
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#');
        const dest = path === '' ? file : resolve(dirname(file), path);
        const rel = relative(root, dest);
        if (!existsSync(dest)) broken.push(`${doc}: ${target} (no such file)`);
        else if (!published(rel)) broken.push(`${doc}: ${target} (not in the package)`);
        else if (anchor && statSync(dest).isFile() && !anchorsOf(dest).has(anchor))
          broken.push(`${doc}: ${target} (no such heading)`);
      }
    }
    assert.deepEqual(broken, []);
  });

  test('the docs cite docs/semantics.md, never a file users do not have', () => {
    for (const doc of docs) {
      const text = readFileSync(join(root, doc), 'utf8');
      assert.doesNotMatch(text, /shared\/|SPEC\.md/, doc);
    }
    const semantics = anchorsOf(join(root, 'docs', 'semantics.md'));
    // Every clause number a comment or test may cite has its heading.
    for (const clause of [
      's01',
      's05',
      's06',
      's44',
      's62',
      's67',
      's68',
      's75',
      's76',
      's84',
      's95',
      's113',
    ])
      assert.ok(
        [...semantics].some((a) => a === clause || a.startsWith(`${clause}-`)),
        `${clause} is a heading of docs/semantics.md`,
      );
  });
});
