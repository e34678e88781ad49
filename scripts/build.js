// Builds hotcode: TypeScript → dist/ (tsc), then the runtime's own modules
// (src/stdlib/*.ts) → object files in dist/stdlib/ebin with hotcode's own
// compiler, as OTP compiles its stdlib to .beam files.
//
// An object file records its source's path (its header's `source`, its source
// map's `sources`), which stack traces show. The runtime's own record a path
// inside the package, `hotcode/src/stdlib/genServer.ts`, never this machine's
// absolute path: the package is built in one place and installed in another.
// (The loader resolves a version's package imports and `import.meta` from that
// path; the runtime modules import nothing but hotcode's own API.)
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  // The runtime's own modules are type-checked against the public API (no emit: hotcode compiles them below).
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.stdlib.json')], {
    stdio: 'inherit',
  });
} catch {
  process.exit(1);
}

// The observer's page (src/observer/page: HTML, CSS, browser JavaScript) is served as is.
cpSync(join(root, 'src', 'observer', 'page'), join(root, 'dist', 'observer', 'page'), {
  recursive: true,
});

const { compileSource } = await import(join(root, 'dist', 'compiler', 'compile.js'));
const srcDir = join(root, 'src', 'stdlib');
const outDir = join(root, 'dist', 'stdlib', 'ebin');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
let failed = false;
for (const f of readdirSync(srcDir).filter(
  (f) => /^[A-Za-z_$][\w$]*\.ts$/.test(f) && !f.endsWith('.d.ts'),
)) {
  const module = f.slice(0, -3);
  const file = join(srcDir, f);
  const shown = `hotcode/src/stdlib/${f}`;
  const r = await compileSource(module, shown, readFileSync(file, 'utf8'));
  if (!r.ok) {
    failed = true;
    for (const d of r.diagnostics)
      console.error(`${join('src', 'stdlib', f)}:${d.line}:${d.column} ${d.message}`);
    continue;
  }
  if (r.compiled.text.includes(root)) {
    failed = true;
    console.error(`${shown}: the object file records this machine's path ${root}`);
    continue;
  }
  writeFileSync(join(outDir, `${module}.js`), r.compiled.text);
}
if (failed) process.exit(1);
