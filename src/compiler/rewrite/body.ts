/**
 * The body pass: one walk of the scope resolver over the whole module that
 *
 * - turns each use of a sibling-module import into a qualified reference
 *   (S3.1, S3.4): `m.f(x)` → `cellOf_m.v.f(x)`, a read `m.f` → the handle;
 * - counts every `await` / `for await` of a function per process and version
 *   (S4.3), drops the continuation where code of a killed process would
 *   resume (S4.4), and reports top-level ones (S1.5);
 * - refuses the module's own names that start with `__hc` (the generated code's);
 * - finds tail calls (S3.3) and, when a function ends, emits its counters and
 *   tail calls (tails.ts);
 * - rewrites `import.meta` and `import()` to the version's linkage.
 */
import { type AnyNode, type Declaration, resolve } from '../scope.js';
import { cellVar, handleVar, member, RESERVED_PREFIX, type RewriteContext } from './context.js';
import { type FnFrame, finishFunction, tailTarget } from './tails.js';

// Counted awaits (S4.3) that never resume in a killed process (S4.4). A kill sets the
// process's counters to -Infinity (process/frames.ts), so the decrement after a resumed
// await goes below zero, and the code then awaits `__hc.k()`, a promise that never
// settles: the continuation is dropped. The rejection path is the catch and finally
// blocks (tails.ts, KILLED_CHECK). The fast path is one increment and one decrement.
const AWAIT_SUFFIX =
  '), __hc_s || (__hc_c ||= __hcV.c()).n++, __hc_s = 1, __hc_t = await __hc_t, __hc_s = 0, --__hc_c.n < 0 && await __hc.k(), __hc_t)';
/** At the top of each iteration of a `for await` body: the loop's counter is set. */
const FOR_AWAIT_CHECK = '__hc_c.n < 0 && await __hc.k(); ';

export function bodyPass(cx: RewriteContext): void {
  const { ms } = cx;
  const fnStack: FnFrame[] = [];
  const ancestors: AnyNode[] = [];
  // Tail-call sites need the callee's declaration, which the resolver knows
  // only while walking: record the candidate returns by the identifier to
  // look up, and decide in onRef of that identifier.
  const pendingTails = new Map<AnyNode, { ret: AnyNode; call: AnyNode; frame: FnFrame }>();

  /** `this`, `super` or `arguments` here: no self loop for this function and the arrows around it. */
  const noSelfLoopUpToNonArrow = () => {
    for (let i = fnStack.length - 1; i >= 0; i--) {
      fnStack[i]!.noSelfLoop = true;
      if (fnStack[i]!.node.type !== 'ArrowFunctionExpression') break;
    }
  };

  /**
   * A self tail call may become a jump to the top of the function only if no
   * closure captures a parameter (each call must keep its own) and the body
   * does not use `this` or `arguments`.
   */
  const noteSelfLoopHazards = (id: AnyNode, decl: Declaration | undefined) => {
    if (decl?.kind === 'param') {
      const owner = fnStack.find((f) => f.node === decl.node);
      if (owner && fnStack.at(-1) !== owner) owner.noSelfLoop = true;
    } else if (decl === undefined && id.name === 'arguments') noSelfLoopUpToNonArrow();
  };

  // The generated code's names (`__hc`, `__hcV`, `__hc_c`, …) must not meet the module's own.
  const reserved = new Set<number>();
  const checkReserved = (id: AnyNode) => {
    if ((id.name as string).startsWith(RESERVED_PREFIX) && !reserved.has(id.start)) {
      reserved.add(id.start);
      cx.problem(
        id.start,
        `'${id.name}': names that start with ${RESERVED_PREFIX} are reserved for the code hotcode generates; rename it`,
      );
    }
  };

  cx.topNames = resolve(cx.program, {
    onDeclare: checkReserved,
    enter(node, parent) {
      ancestors.push(node);
      switch (node.type) {
        case 'LabeledStatement':
          checkReserved(node.label as AnyNode);
          break;
        case 'FunctionDeclaration':
        case 'FunctionExpression':
        case 'ArrowFunctionExpression': {
          const isMethod =
            parent?.type === 'MethodDefinition' ||
            (parent?.type === 'Property' && (parent.method || parent.kind !== 'init'));
          const isAsync = !!node.async;
          const isGenerator = !!node.generator;
          const simpleParams = (node.params as AnyNode[]).every((p) => p.type === 'Identifier');
          if (node.type === 'FunctionDeclaration' && parent) cx.blockOf.set(node, parent);
          fnStack.push({
            node,
            isAsync,
            drivable: !isMethod,
            tailOk:
              isAsync &&
              !isGenerator &&
              simpleParams &&
              (node.body as AnyNode).type === 'BlockStatement',
            guard: 0,
            awaits: 0,
            handlers: [],
            staticBlocks: 0,
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
          const finalizer = node.finalizer as AnyNode | null | undefined;
          if (f?.isAsync && f.staticBlocks === 0 && finalizer) f.handlers.push(finalizer.start + 1);
          break;
        }
        case 'CatchClause': {
          const f = fnStack.at(-1);
          if (f?.isAsync && f.staticBlocks === 0) f.handlers.push((node.body as AnyNode).start + 1);
          break;
        }
        case 'StaticBlock': {
          // no `await` in a class static block, even inside an async function
          const f = fnStack.at(-1);
          if (f) f.staticBlocks++;
          break;
        }
        case 'ThisExpression':
        case 'Super':
          noSelfLoopUpToNonArrow();
          break;
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
        case 'ArrowFunctionExpression':
          finishFunction(cx, fnStack.pop()!);
          break;
        case 'TryStatement':
        case 'ForInStatement': {
          const f = fnStack.at(-1);
          if (f) f.guard--;
          break;
        }
        case 'StaticBlock': {
          const f = fnStack.at(-1);
          if (f) f.staticBlocks--;
          break;
        }
        case 'ForOfStatement': {
          const f = fnStack.at(-1);
          if (f) f.guard--;
          if (node.await) countForAwait(node, parent, f);
          break;
        }
        case 'AwaitExpression': {
          const f = fnStack.at(-1);
          if (!f) {
            cx.problem(
              node.start,
              'top-level `await` is not allowed: loading a module is synchronous (S1.5); do asynchronous work in a function that a process runs',
            );
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
      if (parent.type === 'ExportSpecifier') return; // the local-exports pass
      if (decl === undefined) checkReserved(id);
      noteSelfLoopHazards(id, decl);
      const tail = pendingTails.get(id);
      if (tail) {
        pendingTails.delete(id);
        const target = tailTarget(
          cx,
          tail.call.callee as AnyNode,
          (x) => (x === id ? decl : undefined),
          tail.frame.node,
        );
        if (target) {
          if (target.kind === 'q') cx.useModule(target.module);
          tail.frame.sites.push({ ret: tail.ret, call: tail.call, target });
          return;
        }
      }
      const b = cx.bindingOf(decl);
      if (!b) return;
      if (
        (parent.type === 'AssignmentExpression' && key === 'left') ||
        parent.type === 'UpdateExpression' ||
        key === 'left'
      ) {
        cx.problem(
          id.start,
          `'${id.name}' is an import from module '${b.module}' and cannot be assigned`,
        );
        return;
      }
      let text: string;
      if (b.imported === null) {
        // namespace: `m.f(…)` / `new m.C()` go straight to the current version
        const grand = ancestors.at(-3);
        if (
          parent.type === 'MemberExpression' &&
          key === 'object' &&
          !parent.computed &&
          !parent.optional &&
          grand !== undefined &&
          isCallee(grand, parent)
        )
          text = `${cellVar(b.module)}.v`;
        else text = handleVar(b.module);
      } else if (key === 'callee' && isCallee(parent, id)) {
        text = member(`${cellVar(b.module)}.v`, b.imported);
      } else {
        text = member(handleVar(b.module), b.imported);
      }
      if (parent.type === 'Property' && parent.shorthand)
        ms.update(id.start, id.end, `${id.name}: ${text}`);
      else ms.update(id.start, id.end, text);
    },
  });

  /**
   * The loop counts as one suspension for its whole run (its implicit
   * awaits); awaits in its body count on their own. A label must stay on the
   * loop (`continue outer`): the labeled statement is wrapped. In a killed
   * process, neither the body nor the code after the loop runs again.
   */
  function countForAwait(node: AnyNode, parent: AnyNode | undefined, f: FnFrame | undefined) {
    if (!f) {
      cx.problem(
        node.start,
        'top-level `for await` is not allowed: loading is synchronous (S1.5); move it into a function that a process runs',
      );
      return;
    }
    f.awaits++;
    let wrapped: AnyNode = node;
    if (parent?.type === 'LabeledStatement') {
      wrapped = parent;
      for (let i = ancestors.length - 2; i >= 0 && ancestors[i]!.type === 'LabeledStatement'; i--)
        wrapped = ancestors[i]!;
    }
    // Each iteration resumes the loop: in a killed process, its body never runs again.
    // (Before the wrapper's end: a body without braces ends where the loop does.)
    const body = node.body as AnyNode;
    if (body.type === 'BlockStatement') ms.appendLeft(body.start + 1, ` ${FOR_AWAIT_CHECK}`);
    else {
      ms.prependRight(body.start, `{ ${FOR_AWAIT_CHECK}`);
      ms.appendLeft(body.end, ' }');
    }
    ms.appendRight(wrapped.start, '{ (__hc_c ||= __hcV.c()).n++; try { ');
    ms.appendLeft(wrapped.end, ' } finally { --__hc_c.n < 0 && await __hc.k(); } }');
  }
}

/** Is `child` the callee of call or `new` expression `n`? */
function isCallee(n: AnyNode, child: AnyNode): boolean {
  return (n.type === 'CallExpression' || n.type === 'NewExpression') && n.callee === child;
}
