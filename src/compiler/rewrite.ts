/**
 * The rewrite: esbuild's ESM output → the body of an object file, as named
 * passes over one shared context (rewrite/context.ts), in this order:
 *
 * 1. imports (rewrite/imports.ts) — sibling modules become handle and cell
 *    bindings, so that calls are qualified (S1.4, S3.1); `hotcode` the
 *    running node's API; packages Node's own `require` from the source's
 *    directory;
 * 2. exports (rewrite/exports.ts) — export syntax becomes entries of the
 *    object the body returns (S1.5);
 * 3. the body (rewrite/body.ts, rewrite/tails.ts) — one walk of the scope
 *    resolver: references to imports, the per-process, per-version count of
 *    every `await` / `for await` (S4.3) and the drop of a killed process's
 *    continuations (S4.4), tail calls (S3.3), top-level `await` as a
 *    compile error (S1.5);
 * 4. marking (rewrite/marking.ts) — tail-capable functions for the driver;
 * 5. local exports (rewrite/exports.ts) — `export { a as b }`, which needs the
 *    top-level names the body pass found;
 *
 * then the head (requires, marks, handles) and the returned exports object.
 * Names the generated code introduces all start with `__hc`; a module that
 * declares or refers to such a name itself gets a compile error.
 * compile.ts then checks that the body parses as the loader will compile it
 * (S6.8).
 */
import type { Options } from 'acorn';
import MagicString from 'magic-string';
import { parseModule } from './parse.js';
import { bodyPass } from './rewrite/body.js';
import { cellVar, handleVar, RewriteContext, type RewriteProblem } from './rewrite/context.js';
import { exportsPass, localExportsPass } from './rewrite/exports.js';
import { importsPass } from './rewrite/imports.js';
import { markingPass } from './rewrite/marking.js';
import type { AnyNode } from './scope.js';

export type { RewriteProblem, Specifier } from './rewrite/context.js';
export { classifySpecifier } from './rewrite/specifier.js';

export interface RewriteOutput {
  code: string;
  map: MagicStringMap;
  exports: string[];
  /** Sibling modules this one references (imports and re-exports). */
  imports: string[];
  vsn: string | undefined;
  problems: RewriteProblem[];
}

type MagicStringMap = ReturnType<MagicString['generateDecodedMap']>;

const PARSE_OPTIONS: Options = {
  ecmaVersion: 'latest',
  sourceType: 'module',
  allowAwaitOutsideFunction: true,
};

/**
 * Rewrites `js` (esbuild's output) into the body of module `moduleName`'s
 * object file. `mapLocations` are the offsets in `js` where its own source
 * map has segments: the body's map gets a segment there (and at every edit),
 * which is all that composing it with that map can use. Without them, a
 * segment for every character.
 */
export function rewrite(
  js: string,
  moduleName: string,
  mapLocations?: Iterable<number>,
): RewriteOutput {
  let program: AnyNode;
  try {
    program = parseModule(js, PARSE_OPTIONS);
  } catch (e) {
    const err = e as { pos?: number; message: string };
    return {
      code: '',
      map: new MagicString('').generateDecodedMap(),
      exports: [],
      imports: [],
      vsn: undefined,
      problems: [{ pos: err.pos ?? 0, message: err.message.replace(/ \(\d+:\d+\)$/, '') }],
    };
  }
  const cx = new RewriteContext(js, moduleName, program);
  if (mapLocations) for (const at of mapLocations) cx.ms.addSourcemapLocation(at);
  importsPass(cx);
  exportsPass(cx);
  bodyPass(cx);
  markingPass(cx);
  localExportsPass(cx);
  return finish(cx, mapLocations === undefined);
}

/** The head before the body, the exports object after it. */
function finish(cx: RewriteContext, hires: boolean): RewriteOutput {
  const { ms, head } = cx;
  for (const m of cx.usedModules)
    head.push(
      `const ${handleVar(m)} = __hc.handle(${JSON.stringify(m)}), ${cellVar(m)} = __hc.cell(${JSON.stringify(m)});`,
    );
  ms.prepend(`${head.join(' ')}\n`);
  ms.append(`\nreturn { __proto__: __hcV.proto, ${cx.exportEntries.join(', ')} };\n`);
  return {
    code: ms.toString(),
    map: ms.generateDecodedMap({ hires, includeContent: false }),
    exports: [...cx.exportNames],
    imports: [...cx.usedModules].filter((m) => m !== cx.moduleName),
    vsn: cx.vsn,
    problems: cx.problems,
  };
}
