/**
 * What happens when the body pass leaves an async function: its await
 * counter (S4.3) and its tail calls (S3.3) are emitted.
 *
 * Tail calls: `return g(…)` of a local function and `return m.f(…)` through a
 * module, outside `try` and `for…of`, become tail-call values the driver runs
 * in a loop (`__hc.tl`, `__hc.tq`; see code/linkage.ts, "the callee
 * decides"). A self tail call becomes a jump to the top of the function when
 * that is safe.
 */
import { type AnyNode, type Declaration, isFunctionNode, patternNames } from '../scope.js';
import { cellVar, type RewriteContext } from './context.js';

const TAIL_HELPERS = 'const __hc_dr = __hc.d; __hc.d = false; ';
const AWAIT_LOCALS = 'let __hc_c, __hc_s = 0, __hc_t; try { ';
const AWAIT_FINALLY = ' } finally { if (__hc_s) __hc_c.n--; }';
/**
 * At the top of each catch and finally block of an async function with
 * awaits: an awaited promise that rejects after the process was killed must
 * not run the process's handlers (S4.4), so the continuation is dropped.
 * `__hc_c` is set at the function's first await; before it, nothing was
 * awaited, so nothing resumed.
 */
const KILLED_CHECK = ' __hc_c !== undefined && __hc_c.n < 0 && await __hc.k();';

/** A function being walked by the body pass. */
export interface FnFrame {
  node: AnyNode;
  isAsync: boolean;
  /** May the driver call it (declarations, expressions, arrows — not methods)? */
  drivable: boolean;
  /** Tail calls are allowed: async, not a generator, simple parameters, a block body. */
  tailOk: boolean;
  /** Depth of `try` and `for…of` around the current point (no tail calls inside). */
  guard: number;
  awaits: number;
  /** Where its catch and finally blocks start (after the `{`), for KILLED_CHECK. */
  handlers: number[];
  /** Depth of class static blocks around the current point (no `await` there). */
  staticBlocks: number;
  /** Tail sites, emitted when the function ends. */
  sites: TailSite[];
  /** The function refers to `this` or `arguments`, or a nested function captures a parameter. */
  noSelfLoop: boolean;
}

export type TailTarget =
  | { kind: 'l'; self: boolean }
  | { kind: 'q'; module: string; name: string; self: boolean };

export interface TailSite {
  ret: AnyNode;
  call: AnyNode;
  target: TailTarget;
}

/** A callee that a tail call may target: a sibling-module function or a local function. */
export function tailTarget(
  cx: RewriteContext,
  callee: AnyNode,
  lookup: (id: AnyNode) => Declaration | undefined,
  fn: AnyNode,
): TailTarget | undefined {
  const fnName =
    fn.type === 'FunctionDeclaration' ? ((fn.id as AnyNode).name as string) : undefined;
  if (callee.type === 'Identifier') {
    const decl = lookup(callee);
    const b = cx.bindingOf(decl);
    if (b)
      return b.imported
        ? {
            kind: 'q',
            module: b.module,
            name: b.imported,
            self: b.module === cx.moduleName && b.imported === fnName,
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
    const b = cx.bindingOf(lookup(callee.object as AnyNode));
    if (b && b.imported === null) {
      const name = (callee.property as AnyNode).name as string;
      return {
        kind: 'q',
        module: b.module,
        name,
        self: b.module === cx.moduleName && name === fnName,
      };
    }
  }
  return undefined;
}

/** Emits an async function's await counter and tail calls, when the walk leaves it. */
export function finishFunction(cx: RewriteContext, f: FnFrame): void {
  const { ms, js } = cx;
  const node = f.node;
  if (!f.isAsync) return;
  const tails = f.sites.length;
  if (f.awaits === 0 && tails === 0) return;
  const body = node.body as AnyNode;
  // Self tail calls (`return loop(s)`, `return self.loop(s)` in `loop`) jump back to the
  // top instead of going through the driver: no frame, promise or TailCall per iteration.
  const params = (node.params as AnyNode[]).map((p) => p.name as string);
  const jumps = (x: TailSite) =>
    x.target.self && !(x.call.arguments as AnyNode[]).some((a) => a.type === 'SpreadElement');
  const selfLoop =
    !f.noSelfLoop &&
    node.type === 'FunctionDeclaration' &&
    f.sites.some(jumps) &&
    !hasVar(body) &&
    !declaresAny(body, new Set(params));
  for (const site of f.sites) {
    if (selfLoop && jumps(site)) emitSelfLoop(cx, site, params);
    else emitTail(cx, site);
  }
  if (f.awaits > 0) for (const at of f.handlers) ms.appendLeft(at, KILLED_CHECK);
  const pre =
    (tails > 0 ? TAIL_HELPERS : '') +
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
  if (tails > 0 && f.drivable) cx.tailCapable.push(node);
}

/** A self tail call as a jump: arguments to temporaries, then to the parameters, then `continue`. */
function emitSelfLoop(cx: RewriteContext, site: TailSite, params: string[]): void {
  const { ms } = cx;
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

function emitTail(cx: RewriteContext, t: TailSite): void {
  const { ms, js } = cx;
  const { call, target } = t;
  const args = call.arguments as AnyNode[];
  const callee = call.callee as AnyNode;
  const prefix =
    target.kind === 'l'
      ? `__hc.tl(__hc_dr, ${js.slice(callee.start, callee.end)}, [`
      : `__hc.tq(__hc_dr, ${cellVar(target.module)}, ${JSON.stringify(target.name)}, [`;
  if (args.length === 0) {
    ms.update(call.start, call.end, `${prefix}])`);
  } else {
    ms.update(call.start, args[0]!.start, prefix);
    ms.update(args.at(-1)!.end, call.end, '])');
  }
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
