/**
 * The rewrite pass: esbuild's ESM output → the body of an object file.
 *
 * - imports of sibling modules → the code server's handle and cell for that
 *   module, so that calls are qualified (SPEC S1.4, S3.1): `m.f(x)` →
 *   `cellOf_m.v.f(x)` (a direct call on the current version's exports), a
 *   read `m.f` → the handle's stable trampoline (S3.4);
 * - `import … from 'hotcode'` → the running node's API; package imports →
 *   Node's own `require` from the source's directory;
 * - exports → the object the body returns (S1.5);
 * - every `await` / `for await` of an async function → counted per process
 *   and version (S4.3), so purge knows who runs old code;
 * - `return f(…)` / `return m.f(…)` in an async function → a tail call the
 *   runtime drives (S3.3);
 * - top-level `await` → a compile error (S1.5).
 *
 * Names the generated code introduces all start with `__hc`.
 */
import { type Options, parse } from 'acorn';
import MagicString from 'magic-string';
import { type AnyNode, type Declaration, isFunctionNode, patternNames, resolve } from './scope.js';

export interface RewriteProblem {
  /** Offset in the rewritten (esbuild output) text. */
  pos: number;
  message: string;
}

export interface RewriteOutput {
  code: string;
  map: MagicStringMap;
  exports: string[];
  /** Sibling modules this one references (imports and re-exports). */
  imports: string[];
  vsn: string | undefined;
  problems: RewriteProblem[];
}

type MagicStringMap = ReturnType<MagicString['generateMap']>;

/** How an import specifier is understood (SPEC S1.4). */
export type Specifier =
  | { kind: 'api' }
  | { kind: 'module'; name: string }
  | { kind: 'package' }
  | { kind: 'invalid'; message: string };

const IDENT = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u;
const RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await arguments eval undefined NaN Infinity'.split(
    ' ',
  ),
);

/** A module name is a JavaScript identifier (S1.4). */
export function isModuleName(name: unknown): name is string {
  return typeof name === 'string' && IDENT.test(name) && !RESERVED.has(name);
}

export function classifySpecifier(spec: string): Specifier {
  if (spec === 'hotcode') return { kind: 'api' };
  if (spec.startsWith('.') || spec.startsWith('/') || /^[A-Za-z]:[\\/]/.test(spec)) {
    const m = /^\.\/([^/\\]+?)(\.(?:ts|js|mts|mjs|cts|cjs|tsx|jsx))?$/.exec(spec);
    if (m?.[1] && isModuleName(m[1])) return { kind: 'module', name: m[1] };
    return {
      kind: 'invalid',
      message:
        `'${spec}' is not a hotcode module: modules are files directly in a source directory, ` +
        `imported as './name' where name is an identifier. Move the file into a source directory ` +
        `(and rename it to an identifier), or publish it as a package and import it by package name.`,
    };
  }
  return { kind: 'package' };
}

const TAIL_HELPERS = 'const __hc_dr = __hc.d; __hc.d = false; ';
const AWAIT_LOCALS = 'let __hc_c, __hc_s = 0, __hc_t; try { ';
const AWAIT_FINALLY = ' } finally { if (__hc_s) __hc_c.n--; }';
const AWAIT_SUFFIX =
  '), __hc_s || (__hc_c ||= __hcV.c()).n++, __hc_s = 1, __hc_t = await __hc_t, __hc_s = 0, --__hc_c.n < 0 && await __hc.k(), __hc_t)';

interface FnFrame {
  node: AnyNode;
  isAsync: boolean;
  isGenerator: boolean;
  /** May the driver call it (declarations, expressions, arrows — not methods)? */
  drivable: boolean;
  /** Tail calls are allowed: async, not a generator, simple parameters. */
  tailOk: boolean;
  /** Depth of `try` and `for…of` around the current point (no tail calls inside). */
  guard: number;
  awaits: number;
  tails: number;
  /** Tail sites, emitted when the function ends (see finishFunction). */
  sites: TailSite[];
  /** The function refers to `this` or `arguments`, or a nested function captures a parameter. */
  noSelfLoop: boolean;
}

type TailTarget =
  | { kind: 'l'; self: boolean }
  | { kind: 'q'; module: string; name: string; self: boolean };
interface TailSite {
  ret: AnyNode;
  call: AnyNode;
  target: TailTarget;
}

export function rewrite(js: string, moduleName: string): RewriteOutput {
  const problems: RewriteProblem[] = [];
  let program: AnyNode;
  const opts: Options = {
    ecmaVersion: 'latest',
    sourceType: 'module',
    allowAwaitOutsideFunction: true,
  };
  try {
    program = parse(js, opts) as unknown as AnyNode;
  } catch (e) {
    const err = e as { pos?: number; message: string };
    return {
      code: '',
      map: new MagicString('').generateMap(),
      exports: [],
      imports: [],
      vsn: undefined,
      problems: [{ pos: err.pos ?? 0, message: err.message.replace(/ \(\d+:\d+\)$/, '') }],
    };
  }

  const ms = new MagicString(js);
  const head: string[] = ['"use strict";'];
  const imports = new Set<string>();
  // local binding name → how to reach it
  const moduleBindings = new Map<
    Declaration['node'],
    { module: string; imported: string | null }
  >();
  const usedModules = new Set<string>();
  let pkgCount = 0;

  const handleVar = (m: string) => `__hcH_${m}`;
  const cellVar = (m: string) => `__hcC_${m}`;
  const useModule = (m: string) => {
    usedModules.add(m);
    imports.add(m);
  };

  // ---- imports -------------------------------------------------------------
  for (const stmt of program.body as AnyNode[]) {
    if (stmt.type !== 'ImportDeclaration') continue;
    const spec = (stmt.source as AnyNode).value as string;
    const cls = classifySpecifier(spec);
    const specifiers = stmt.specifiers as AnyNode[];
    ms.remove(stmt.start, stmt.end);
    if (cls.kind === 'invalid') {
      problems.push({ pos: (stmt.source as AnyNode).start, message: cls.message });
      continue;
    }
    if (cls.kind === 'module') {
      useModule(cls.name);
      for (const sp of specifiers) {
        const imported =
          sp.type === 'ImportNamespaceSpecifier'
            ? null
            : sp.type === 'ImportDefaultSpecifier'
              ? 'default'
              : importedName(sp);
        moduleBindings.set(sp, { module: cls.name, imported });
      }
      continue;
    }
    const source = cls.kind === 'api' ? '__hc.api' : `__hcP${pkgCount++}`;
    if (cls.kind === 'package') head.push(`const ${source} = __hcV.req(${JSON.stringify(spec)});`);
    for (const sp of specifiers) {
      const local = (sp.local as AnyNode).name as string;
      if (sp.type === 'ImportNamespaceSpecifier')
        head.push(`const ${local} = ${cls.kind === 'api' ? source : `__hc.ns(${source})`};`);
      else if (sp.type === 'ImportDefaultSpecifier')
        head.push(`const ${local} = ${cls.kind === 'api' ? source : `__hc.def(${source})`};`);
      else head.push(`const ${local} = ${source}[${JSON.stringify(importedName(sp))}];`);
    }
  }

  // ---- exports (collected; the return object is built at the end) ---------
  const exportEntries: string[] = [];
  const exportNames: string[] = [];
  let vsn: string | undefined;
  const addExport = (name: string, entry: string) => {
    if (!exportNames.includes(name)) exportNames.push(name);
    exportEntries.push(entry);
  };
  const propKey = (name: string) => (IDENT.test(name) ? name : JSON.stringify(name));

  // top-level declarations, filled by the resolver below
  let topNames = new Map<string, Declaration>();
  const pendingLocalExports: { local: string; exported: string; pos: number }[] = [];

  for (const stmt of program.body as AnyNode[]) {
    if (stmt.type === 'ExportNamedDeclaration') {
      const decl = stmt.declaration as AnyNode | null;
      if (decl) {
        // `export function f`, `export class C`, `export const a = …`
        ms.remove(stmt.start, decl.start);
        if (decl.type === 'VariableDeclaration') {
          for (const d of decl.declarations as AnyNode[]) {
            for (const id of patternNames(d.id as AnyNode)) {
              const name = id.name as string;
              addExport(
                name,
                decl.kind === 'const'
                  ? `${propKey(name)}: ${name}`
                  : `get ${propKey(name)}() { return ${name}; }`,
              );
              const init = d.init as AnyNode | null;
              if (
                name === 'vsn' &&
                decl.kind === 'const' &&
                init?.type === 'Literal' &&
                (typeof init.value === 'string' || typeof init.value === 'number')
              )
                vsn = String(init.value);
            }
          }
        } else {
          const name = (decl.id as AnyNode).name as string;
          addExport(name, `${propKey(name)}: ${name}`);
        }
        continue;
      }
      const source = stmt.source as AnyNode | null;
      ms.remove(stmt.start, stmt.end);
      if (source) {
        const spec = source.value as string;
        const cls = classifySpecifier(spec);
        if (cls.kind === 'invalid') {
          problems.push({ pos: source.start, message: cls.message });
          continue;
        }
        let from: string;
        if (cls.kind === 'module') {
          useModule(cls.name);
          from = handleVar(cls.name);
        } else if (cls.kind === 'api') from = '__hc.api';
        else {
          from = `__hcP${pkgCount++}`;
          head.push(`const ${from} = __hc.ns(__hcV.req(${JSON.stringify(spec)}));`);
        }
        for (const sp of stmt.specifiers as AnyNode[]) {
          const local = nameOf(sp.local as AnyNode);
          const exported = nameOf(sp.exported as AnyNode);
          addExport(
            exported,
            `get ${propKey(exported)}() { return ${from}[${JSON.stringify(local)}]; }`,
          );
        }
      } else {
        for (const sp of stmt.specifiers as AnyNode[]) {
          pendingLocalExports.push({
            local: nameOf(sp.local as AnyNode),
            exported: nameOf(sp.exported as AnyNode),
            pos: sp.start,
          });
        }
      }
    } else if (stmt.type === 'ExportDefaultDeclaration') {
      const decl = stmt.declaration as AnyNode;
      const named =
        (decl.type === 'FunctionDeclaration' || decl.type === 'ClassDeclaration') && decl.id
          ? ((decl.id as AnyNode).name as string)
          : undefined;
      if (named) {
        ms.remove(stmt.start, decl.start);
        addExport('default', `default: ${named}`);
      } else {
        ms.update(stmt.start, decl.start, 'const __hc_default = ');
        if (!/[;}]\s*$/.test(js.slice(stmt.start, stmt.end))) ms.appendLeft(stmt.end, ';');
        addExport('default', 'default: __hc_default');
      }
    } else if (stmt.type === 'ExportAllDeclaration') {
      const source = stmt.source as AnyNode;
      const spec = source.value as string;
      const cls = classifySpecifier(spec);
      ms.remove(stmt.start, stmt.end);
      const exported = stmt.exported ? nameOf(stmt.exported as AnyNode) : undefined;
      if (cls.kind === 'invalid') {
        problems.push({ pos: source.start, message: cls.message });
      } else if (cls.kind === 'module') {
        useModule(cls.name);
        if (exported) addExport(exported, `${propKey(exported)}: ${handleVar(cls.name)}`);
        else
          problems.push({
            pos: stmt.start,
            message: `'export * from '${spec}'' is not supported between hotcode modules (their exports change with each version); list the names: export { a, b } from '${spec}'`,
          });
      } else {
        const v = cls.kind === 'api' ? '__hc.api' : `__hcP${pkgCount++}`;
        if (cls.kind === 'package')
          head.push(`const ${v} = __hc.ns(__hcV.req(${JSON.stringify(spec)}));`);
        if (exported) addExport(exported, `${propKey(exported)}: ${v}`);
        else exportEntries.push(`...__hc.star(${v})`);
      }
    }
  }

  // ---- one pass: references, awaits, tail calls, import.meta ------------------
  const fnStack: FnFrame[] = [];
  const ancestors: AnyNode[] = [];
  const handledCallees = new Set<AnyNode>();
  const tailCapable: { node: AnyNode }[] = [];
  // Which block each function declaration is hoisted in (for marking it).
  const blockOf = new Map<AnyNode, AnyNode>();

  const bindingOf = (decl: Declaration | undefined) =>
    decl && decl.kind === 'import' && decl.topLevel ? moduleBindings.get(decl.node) : undefined;

  /** A callee that a tail call may target: a sibling-module function or a local function. */
  const tailTarget = (
    callee: AnyNode,
    lookup: (id: AnyNode) => Declaration | undefined,
    fn: AnyNode,
  ): TailTarget | undefined => {
    const fnName =
      fn.type === 'FunctionDeclaration' ? ((fn.id as AnyNode).name as string) : undefined;
    if (callee.type === 'Identifier') {
      const decl = lookup(callee);
      const b = bindingOf(decl);
      if (b)
        return b.imported
          ? {
              kind: 'q',
              module: b.module,
              name: b.imported,
              self: b.module === moduleName && b.imported === fnName,
            }
          : undefined;
      if (!decl) return undefined;
      if (decl.kind === 'function') return { kind: 'l', self: decl.node === fn };
      if (
        decl.kind === 'const' &&
        (decl.node.init as AnyNode | null) &&
        isFunctionNode(decl.node.init as AnyNode)
      )
        return { kind: 'l', self: false };
      return undefined;
    }
    if (
      callee.type === 'MemberExpression' &&
      !callee.computed &&
      !callee.optional &&
      (callee.object as AnyNode).type === 'Identifier' &&
      (callee.property as AnyNode).type === 'Identifier'
    ) {
      const b = bindingOf(lookup(callee.object as AnyNode));
      if (b && b.imported === null) {
        const name = (callee.property as AnyNode).name as string;
        return {
          kind: 'q',
          module: b.module,
          name,
          self: b.module === moduleName && name === fnName,
        };
      }
    }
    return undefined;
  };

  // Tail-call sites need declarations, which the resolver knows only while
  // walking; record the candidate returns and decide in onRef of the callee.
  const pendingTails = new Map<AnyNode, { ret: AnyNode; call: AnyNode; frame: FnFrame }>();

  topNames = resolve(program, {
    enter(node, parent) {
      ancestors.push(node);
      switch (node.type) {
        case 'FunctionDeclaration':
        case 'FunctionExpression':
        case 'ArrowFunctionExpression': {
          const isMethod =
            parent?.type === 'MethodDefinition' ||
            (parent?.type === 'Property' && (parent.method || parent.kind !== 'init'));
          const isAsync = !!node.async;
          const isGenerator = !!node.generator;
          const simpleParams = (node.params as AnyNode[]).every((p) => p.type === 'Identifier');
          if (node.type === 'FunctionDeclaration' && parent) blockOf.set(node, parent);
          fnStack.push({
            node,
            isAsync,
            isGenerator,
            drivable: !isMethod,
            tailOk:
              isAsync &&
              !isGenerator &&
              simpleParams &&
              (node.body as AnyNode).type === 'BlockStatement',
            guard: 0,
            awaits: 0,
            tails: 0,
            sites: [],
            noSelfLoop: false,
          });
          break;
        }
        case 'TryStatement':
        case 'ForOfStatement':
        case 'ForInStatement': {
          const f = fnStack.at(-1);
          if (f) f.guard++;
          break;
        }
        case 'ThisExpression':
        case 'Super': {
          for (let i = fnStack.length - 1; i >= 0; i--) {
            fnStack[i]!.noSelfLoop = true;
            if (fnStack[i]!.node.type !== 'ArrowFunctionExpression') break;
          }
          break;
        }
        case 'ReturnStatement': {
          const f = fnStack.at(-1);
          const arg = node.argument as AnyNode | null;
          if (f?.tailOk && f.guard === 0 && arg?.type === 'CallExpression' && !arg.optional) {
            const callee = arg.callee as AnyNode;
            const probe = callee.type === 'MemberExpression' ? (callee.object as AnyNode) : callee;
            if (probe.type === 'Identifier')
              pendingTails.set(probe, { ret: node, call: arg, frame: f });
          }
          break;
        }
      }
    },
    leave(node, parent) {
      ancestors.pop();
      switch (node.type) {
        case 'FunctionDeclaration':
        case 'FunctionExpression':
        case 'ArrowFunctionExpression': {
          const f = fnStack.pop()!;
          finishFunction(f);
          break;
        }
        case 'TryStatement':
        case 'ForInStatement': {
          const f = fnStack.at(-1);
          if (f) f.guard--;
          break;
        }
        case 'ForOfStatement': {
          const f = fnStack.at(-1);
          if (f) f.guard--;
          if (node.await) {
            if (!f) {
              problems.push({
                pos: node.start,
                message:
                  'top-level `for await` is not allowed: loading is synchronous (SPEC S1.5); move it into a function that a process runs',
              });
            } else {
              f.awaits++;
              // The loop counts as one suspension for its whole run (its
              // implicit awaits); awaits in its body count on their own.
              // A label must stay on the loop (`continue outer`): wrap the labeled statement.
              let wrapped: AnyNode = node;
              if (parent?.type === 'LabeledStatement') {
                wrapped = parent;
                for (
                  let i = ancestors.length - 2;
                  i >= 0 && ancestors[i]!.type === 'LabeledStatement';
                  i--
                )
                  wrapped = ancestors[i]!;
              }
              ms.appendRight(wrapped.start, '{ (__hc_c ||= __hcV.c()).n++; try { ');
              ms.appendLeft(wrapped.end, ' } finally { --__hc_c.n < 0 && await __hc.k(); } }');
            }
          }
          break;
        }
        case 'AwaitExpression': {
          const f = fnStack.at(-1);
          if (!f) {
            problems.push({
              pos: node.start,
              message:
                'top-level `await` is not allowed: loading a module is synchronous (SPEC S1.5); do asynchronous work in a function that a process runs',
            });
            break;
          }
          f.awaits++;
          ms.update(node.start, node.start + 5, '(__hc_t = (');
          ms.appendLeft(node.end, AWAIT_SUFFIX);
          break;
        }
        case 'MetaProperty':
          if ((node.meta as AnyNode).name === 'import')
            ms.update(node.start, node.end, '__hcV.meta');
          break;
        case 'ImportExpression':
          ms.update(node.start, (node.source as AnyNode).start, '__hcV.imp(');
          break;
      }
    },
    onRef(ref) {
      const { id, parent, key, decl } = ref;
      if (parent.type === 'ExportSpecifier') return; // handled with the exports
      noteSelfLoopHazards(id, decl);
      const tail = pendingTails.get(id);
      if (tail) {
        pendingTails.delete(id);
        const target = tailTarget(
          tail.call.callee as AnyNode,
          (x) => (x === id ? decl : undefined),
          tail.frame.node,
        );
        if (target) {
          if (target.kind === 'q') useModule(target.module);
          tail.frame.sites.push({ ret: tail.ret, call: tail.call, target });
          tail.frame.tails++;
          return;
        }
      }
      const b = bindingOf(decl);
      if (!b) return;
      if (handledCallees.has(id)) return;
      const grand = ancestors.at(-3);
      if (
        (parent.type === 'AssignmentExpression' && key === 'left') ||
        parent.type === 'UpdateExpression' ||
        key === 'left'
      ) {
        problems.push({
          pos: id.start,
          message: `'${id.name}' is an import from module '${b.module}' and cannot be assigned`,
        });
        return;
      }
      const isCallee = (n: AnyNode | undefined, k: string, child: AnyNode) =>
        !!n &&
        (n.type === 'CallExpression' || n.type === 'NewExpression') &&
        k === 'callee' &&
        n.callee === child;
      let text: string;
      if (b.imported === null) {
        // namespace: `m.f(…)` / `new m.C()` go straight to the current version
        if (
          parent.type === 'MemberExpression' &&
          key === 'object' &&
          !parent.computed &&
          !parent.optional &&
          grand &&
          isCallee(grand, grand.callee === parent ? 'callee' : '', parent)
        )
          text = `${cellVar(b.module)}.v`;
        else text = handleVar(b.module);
      } else if (isCallee(parent, key, id)) {
        text = `${cellVar(b.module)}.v[${JSON.stringify(b.imported)}]`;
        if (IDENT.test(b.imported)) text = `${cellVar(b.module)}.v.${b.imported}`;
      } else {
        text = IDENT.test(b.imported)
          ? `${handleVar(b.module)}.${b.imported}`
          : `${handleVar(b.module)}[${JSON.stringify(b.imported)}]`;
      }
      if (parent.type === 'Property' && parent.shorthand)
        ms.update(id.start, id.end, `${id.name}: ${text}`);
      else ms.update(id.start, id.end, text);
    },
  });

  /**
   * A self tail call may become a jump to the top of the function only if no
   * closure captures a parameter (each call must keep its own) and the body
   * does not use `this` or `arguments`.
   */
  function noteSelfLoopHazards(id: AnyNode, decl: Declaration | undefined) {
    if (decl?.kind === 'param') {
      const owner = fnStack.find((f) => f.node === decl.node);
      if (owner && fnStack.at(-1) !== owner) owner.noSelfLoop = true;
    } else if (decl === undefined && id.name === 'arguments') {
      for (let i = fnStack.length - 1; i >= 0; i--) {
        fnStack[i]!.noSelfLoop = true;
        if (fnStack[i]!.node.type !== 'ArrowFunctionExpression') break;
      }
    }
  }

  /** A self tail call as a jump: arguments to temporaries, then to the parameters, then `continue`. */
  function emitSelfLoop(site: TailSite, params: string[]) {
    const { ret, call, target } = site;
    const args = call.arguments as AnyNode[];
    const temps = args.map((_, i) => `__hc_a${i}`);
    const assign = params
      .map((p, i) => `${p} = ${i < temps.length ? temps[i] : 'void 0'};`)
      .join(' ');
    const jump = `${assign} continue __hc_top;`;
    let tail: string;
    if (target.kind === 'l') tail = ` ${jump} }`;
    else {
      const cell = cellVar(target.module);
      const fn = target.name;
      tail = ` if (${cell}.v.${fn} === ${fn}) { ${jump} } return __hc.tq(__hc_dr, ${cell}, ${JSON.stringify(fn)}, [${temps.join(', ')}]); }`;
    }
    if (args.length === 0) {
      ms.update(ret.start, ret.end, `{${tail}`);
      return;
    }
    ms.update(ret.start, args[0]!.start, `{ const ${temps[0]} = (`);
    for (let i = 1; i < args.length; i++)
      ms.update(args[i - 1]!.end, args[i]!.start, `), ${temps[i]} = (`);
    ms.update(args.at(-1)!.end, ret.end, `);${tail}`);
  }

  function emitTail(t: TailSite) {
    const { call, target } = t;
    const args = call.arguments as AnyNode[];
    const callee = call.callee as AnyNode;
    let prefix: string;
    if (target.kind === 'l') {
      prefix = `__hc.tl(__hc_dr, ${js.slice(callee.start, callee.end)}, [`;
    } else {
      prefix = `__hc.tq(__hc_dr, ${cellVar(target.module)}, ${JSON.stringify(target.name)}, [`;
    }
    if (args.length === 0) {
      ms.update(call.start, call.end, `${prefix}])`);
    } else {
      ms.update(call.start, args[0]!.start, prefix);
      ms.update(args.at(-1)!.end, call.end, '])');
    }
  }

  function finishFunction(f: FnFrame) {
    const node = f.node;
    if (!f.isAsync) return;
    if (f.awaits === 0 && f.tails === 0) return;
    const body = node.body as AnyNode;
    // Self tail calls (`return loop(s)`, `return self.loop(s)` in `loop`) jump back to the
    // top instead of going through the driver: no frame, promise or TailCall per iteration.
    const params = (node.params as AnyNode[]).map((p) => p.name as string);
    const selfLoop =
      !f.noSelfLoop &&
      node.type === 'FunctionDeclaration' &&
      f.sites.some(
        (x) =>
          x.target.self && !(x.call.arguments as AnyNode[]).some((a) => a.type === 'SpreadElement'),
      ) &&
      !hasVar(body) &&
      !declaresAny(body, new Set(params));
    for (const site of f.sites) {
      if (
        selfLoop &&
        site.target.self &&
        !(site.call.arguments as AnyNode[]).some((a) => a.type === 'SpreadElement')
      )
        emitSelfLoop(site, params);
      else emitTail(site);
    }
    const pre =
      (f.tails > 0 ? TAIL_HELPERS : '') +
      (f.awaits > 0 ? AWAIT_LOCALS : '') +
      (selfLoop ? '__hc_top: for (;;) { ' : '');
    const post = (selfLoop ? ' return; }' : '') + (f.awaits > 0 ? AWAIT_FINALLY : '');
    if (body.type === 'BlockStatement') {
      ms.appendLeft(body.start + 1, pre);
      ms.prependRight(body.end - 1, post);
    } else {
      // expression-bodied arrow with awaits: `async (x) => await f(x)`
      const params = node.params as AnyNode[];
      const from = params.length ? params.at(-1)!.end : node.start;
      const arrow = js.indexOf('=>', from);
      ms.appendLeft(arrow + 2, ` { ${pre}return `);
      ms.appendLeft(node.end, `;${post} }`);
    }
    if (f.tails > 0 && f.drivable) tailCapable.push({ node });
  }

  // Mark tail-capable functions so the driver knows it may hand them the flag.
  // A declaration is hoisted: mark it where its block starts, so the mark is
  // in place before any code of the block can call it.
  for (const { node } of tailCapable) {
    if (node.type === 'FunctionDeclaration') {
      const name = (node.id as AnyNode).name as string;
      let block = blockOf.get(node);
      if (
        block &&
        (block.type === 'ExportNamedDeclaration' || block.type === 'ExportDefaultDeclaration')
      )
        block = program;
      if (!block || block === program) head.push(`__hc.mark(${name});`);
      else if (block.type === 'BlockStatement' || block.type === 'StaticBlock')
        ms.appendLeft(block.start + 1, ` __hc.mark(${name});`);
      else ms.appendLeft(node.end, `\n__hc.mark(${name});`);
    } else {
      ms.prependRight(node.start, '__hc.mark(');
      ms.appendLeft(node.end, ')');
    }
  }

  // ---- local `export { a as b }` -------------------------------------------
  for (const e of pendingLocalExports) {
    const decl = topNames.get(e.local);
    const b = bindingOf(decl);
    if (b) {
      const acc =
        b.imported === null
          ? handleVar(b.module)
          : `${handleVar(b.module)}[${JSON.stringify(b.imported)}]`;
      useModule(b.module);
      addExport(e.exported, `get ${propKey(e.exported)}() { return ${acc}; }`);
    } else if (!decl) {
      problems.push({
        pos: e.pos,
        message: `'${e.local}' is exported but not declared in this module`,
      });
    } else if (
      decl.kind === 'const' ||
      decl.kind === 'function' ||
      decl.kind === 'class' ||
      decl.kind === 'import'
    ) {
      addExport(e.exported, `${propKey(e.exported)}: ${e.local}`);
      if (e.exported === 'vsn' && decl.kind === 'const') {
        const init = decl.node.init as AnyNode | null;
        if (
          init?.type === 'Literal' &&
          (typeof init.value === 'string' || typeof init.value === 'number')
        )
          vsn = String(init.value);
      }
    } else {
      addExport(e.exported, `get ${propKey(e.exported)}() { return ${e.local}; }`);
    }
  }

  for (const m of usedModules)
    head.push(
      `const ${handleVar(m)} = __hc.handle(${JSON.stringify(m)}), ${cellVar(m)} = __hc.cell(${JSON.stringify(m)});`,
    );
  ms.prepend(`${head.join(' ')}\n`);
  ms.append(`\nreturn { __proto__: __hcV.proto, ${exportEntries.join(', ')} };\n`);

  return {
    code: ms.toString(),
    map: ms.generateMap({ hires: true, includeContent: false }),
    exports: exportNames,
    imports: [...imports].filter((m) => m !== moduleName),
    vsn,
    problems,
  };
}

/** Is `test` true of `node` or of a node below it, not looking into nested functions? */
function anyInBody(node: AnyNode, test: (n: AnyNode) => boolean): boolean {
  if (test(node)) return true;
  if (isFunctionNode(node)) return false;
  for (const k of Object.keys(node)) {
    const v = node[k];
    for (const c of Array.isArray(v) ? v : [v])
      if (
        c &&
        typeof c === 'object' &&
        typeof (c as AnyNode).type === 'string' &&
        anyInBody(c as AnyNode, test)
      )
        return true;
  }
  return false;
}

/** Does a function body declare `var`s? Their values would survive a jump. */
function hasVar(body: AnyNode): boolean {
  return anyInBody(body, (n) => n.type === 'VariableDeclaration' && n.kind === 'var');
}

/**
 * Does a function body declare one of `names` in an inner scope? A jump
 * assigns the parameters by name, and a shadowing `let s` would take the
 * assignment instead.
 */
function declaresAny(body: AnyNode, names: Set<string>): boolean {
  return anyInBody(body, (n) => {
    const bound: AnyNode[] = [];
    if (n.type === 'VariableDeclarator') patternNames(n.id as AnyNode, bound);
    else if ((n.type === 'ClassDeclaration' || n.type === 'FunctionDeclaration') && n.id)
      bound.push(n.id as AnyNode);
    else if (n.type === 'CatchClause' && n.param) patternNames(n.param as AnyNode, bound);
    return bound.some((id) => names.has(id.name as string));
  });
}

function nameOf(n: AnyNode): string {
  return n.type === 'Identifier' ? (n.name as string) : String(n.value);
}

function importedName(sp: AnyNode): string {
  return nameOf(sp.imported as AnyNode);
}
