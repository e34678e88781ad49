/**
 * Turning one line of shell input into a script (S7.1): top-level
 * `await`, declarations that outlive their line, object literals, and
 * input that needs another line.
 *
 * A line is run as a `vm.Script` in the session's context, so `const p = …`
 * on one line is visible on the next (scripts of one context share their
 * top-level declarations). A line with a top-level `await` cannot be a plain
 * script: it is wrapped in an async function whose top-level declarations
 * are hoisted out of it (`const x = await f()` → `let x; (async () => {
 * void (x = await f()) })()`), and whose last expression is returned in a
 * box (`{ value: … }`, so a promise it yields is not awaited twice). This is
 * what Node's own REPL does (lib/internal/repl/await.js), written here on
 * acorn because the shell evaluates lines itself, without a terminal.
 */
import { type Node, Parser } from 'acorn';

/** How a line is to be run. */
export type Prepared =
  | { type: 'script'; code: string; boxed: boolean }
  | { type: 'incomplete' }
  | { type: 'syntax'; error: SyntaxError };

interface AnyNode extends Node {
  [key: string]: unknown;
}

const WRAP = '(async () => { ';

/**
 * Prepares a line: `boxed` when the script yields a promise of `{ value }`
 * (a line with top-level await), else the script's value is the line's.
 * `compile` is how the caller compiles a script (a `vm.Script`), so that a
 * syntax error reads as V8 writes it.
 */
export function prepare(line: string, compile: (code: string) => void): Prepared {
  let code = line;
  // `{ a: 1 }` is an object, not a block (as in Node's REPL).
  if (/^\s*\{/.test(code) && !/;\s*$/.test(code)) {
    const wrapped = `(${code.trim()})\n`;
    if (syntaxError(wrapped, compile) === undefined)
      return { type: 'script', code: wrapped, boxed: false };
  }
  if (/\bawait\b/.test(code)) {
    const hoisted = topLevelAwait(code);
    if (hoisted === 'incomplete') return { type: 'incomplete' };
    if (hoisted !== undefined) code = hoisted;
    const e = syntaxError(code, compile);
    if (e === undefined) return { type: 'script', code, boxed: hoisted !== undefined };
    return incomplete(line, e) ? { type: 'incomplete' } : { type: 'syntax', error: e };
  }
  const e = syntaxError(code, compile);
  if (e === undefined) return { type: 'script', code, boxed: false };
  return incomplete(line, e) ? { type: 'incomplete' } : { type: 'syntax', error: e };
}

function syntaxError(code: string, compile: (code: string) => void): SyntaxError | undefined {
  try {
    compile(code);
    return undefined;
  } catch (e) {
    if (e instanceof SyntaxError || (e as Error)?.name === 'SyntaxError') return e as SyntaxError;
    throw e;
  }
}

/** Does the input stop in the middle of something (a call, a block, a template)? Then it goes on at the next line. */
function incomplete(line: string, e: SyntaxError): boolean {
  if (/Unexpected end of input|Unterminated template/.test(e.message)) return true;
  try {
    Parser.parse(line, { ecmaVersion: 'latest', allowAwaitOutsideFunction: true });
    return false;
  } catch (a) {
    const err = a as { pos?: number; message?: string };
    if (/^Unterminated (template|comment)/.test(err.message ?? '')) return true;
    return err.pos !== undefined && err.pos >= line.trimEnd().length;
  }
}

/**
 * The line rewritten as an async function with hoisted declarations, or
 * undefined when it has no top-level await (or has a top-level `return`).
 */
function topLevelAwait(src: string): string | undefined | 'incomplete' {
  const wrapped = `${WRAP}${src}\n})()`;
  let root: AnyNode;
  try {
    root = Parser.parse(wrapped, { ecmaVersion: 'latest' }) as unknown as AnyNode;
  } catch (e) {
    const err = e as { pos?: number; message?: string };
    if (/^Unterminated /.test(err.message ?? '')) return 'incomplete';
    if (err.pos !== undefined && err.pos - WRAP.length >= src.trimEnd().length) return 'incomplete';
    return undefined; // let V8 say what is wrong
  }
  const body = (((root.body as AnyNode[])[0]!.expression as AnyNode).callee as AnyNode)
    .body as AnyNode;
  const chars = wrapped.split('');
  const hoist: string[] = [];
  let hasAwait = false;
  let hasReturn = false;
  const prepend = (n: Node, s: string) => {
    chars[n.start] = s + chars[n.start];
  };
  const append = (n: Node, s: string) => {
    chars[n.end - 1] += s;
  };
  const replace = (from: number, to: number, s: string) => {
    for (let i = from; i < to; i++) chars[i] = '';
    chars[from] = from === to ? s + chars[from] : s;
  };

  const names = (pattern: AnyNode | null, out: string[]): string[] => {
    if (pattern === null) return out;
    switch (pattern.type) {
      case 'Identifier':
        out.push(pattern.name as string);
        break;
      case 'ObjectPattern':
        for (const p of pattern.properties as AnyNode[])
          names((p.value ?? p.argument) as AnyNode, out);
        break;
      case 'ArrayPattern':
        for (const el of pattern.elements as (AnyNode | null)[]) names(el, out);
        break;
      case 'RestElement':
        names(pattern.argument as AnyNode, out);
        break;
      case 'AssignmentPattern':
        names(pattern.left as AnyNode, out);
        break;
    }
    return out;
  };

  const walk = (node: AnyNode, parent: AnyNode | undefined): void => {
    switch (node.type) {
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
      case 'MethodDefinition':
      case 'PropertyDefinition':
      case 'StaticBlock':
        return; // their awaits and declarations are their own
      case 'FunctionDeclaration': {
        const name = (node.id as AnyNode).name as string;
        prepend(node, `this.${name} = ${name}; `);
        hoist.push(`var ${name}; `);
        return;
      }
      case 'ClassDeclaration':
        if (parent === body) {
          const name = (node.id as AnyNode).name as string;
          prepend(node, `${name}=`);
          hoist.push(`let ${name}; `);
        }
        break;
      case 'AwaitExpression':
        hasAwait = true;
        break;
      case 'ForOfStatement':
        if (node.await === true) hasAwait = true;
        break;
      case 'ReturnStatement':
        hasReturn = true;
        break;
      case 'VariableDeclaration': {
        const kind = node.kind as string;
        const inFor =
          parent !== undefined &&
          (parent.type === 'ForOfStatement' || parent.type === 'ForInStatement') &&
          parent.left === node;
        if (kind === 'var' || parent === body) {
          const decls = node.declarations as AnyNode[];
          replace(
            node.start,
            node.start + kind.length + (inFor ? 1 : 0),
            kind === 'var' && inFor ? '' : `void${decls.length === 1 ? '' : ' ('}`,
          );
          if (!inFor) {
            for (const d of decls) {
              prepend(d, '(');
              append(d, d.init ? ')' : '=undefined)');
            }
            if (decls.length !== 1) append(decls[decls.length - 1]!, ')');
          }
          const ids = decls.flatMap((d) => names(d.id as AnyNode, []));
          if (ids.length) hoist.push(`${kind === 'var' ? 'var' : 'let'} ${ids.join(', ')}; `);
        }
        break;
      }
    }
    for (const key of Object.keys(node)) {
      if (key === 'type' || key === 'start' || key === 'end' || key === 'loc') continue;
      const v = node[key];
      if (Array.isArray(v)) {
        for (const c of v)
          if (c && typeof (c as AnyNode).type === 'string') walk(c as AnyNode, node);
      } else if (v && typeof (v as AnyNode).type === 'string') walk(v as AnyNode, node);
    }
  };
  for (const stmt of body.body as AnyNode[]) walk(stmt, body);
  if (!hasAwait || hasReturn) return undefined;

  const stmts = body.body as AnyNode[];
  for (let i = stmts.length - 1; i >= 0; i--) {
    const s = stmts[i]!;
    if (s.type === 'EmptyStatement') continue;
    if (s.type === 'ExpressionStatement') {
      prepend(s.expression as AnyNode, '{ value: (');
      prepend(s, 'return ');
      append(s.expression as AnyNode, ') }');
    }
    break;
  }
  return hoist.join('') + chars.join('');
}
