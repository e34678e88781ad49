/**
 * The marking pass: functions with tail calls are marked (`__hc.mark`) so the
 * driver knows it may hand them the flag (code/linkage.ts). A declaration is
 * hoisted: its mark goes where its block starts, in place before any code of
 * the block can call it; an expression is wrapped.
 */
import type { AnyNode } from '../scope.js';
import type { RewriteContext } from './context.js';

export function markingPass(cx: RewriteContext): void {
  const { ms, program } = cx;
  for (const node of cx.tailCapable) {
    if (node.type !== 'FunctionDeclaration') {
      ms.prependRight(node.start, '__hc.mark(');
      ms.appendLeft(node.end, ')');
      continue;
    }
    const name = (node.id as AnyNode).name as string;
    let block = cx.blockOf.get(node);
    if (
      block &&
      (block.type === 'ExportNamedDeclaration' || block.type === 'ExportDefaultDeclaration')
    )
      block = program;
    if (!block || block === program) cx.head.push(`__hc.mark(${name});`);
    else if (block.type === 'BlockStatement' || block.type === 'StaticBlock')
      ms.appendLeft(block.start + 1, ` __hc.mark(${name});`);
    else ms.appendLeft(node.end, `\n__hc.mark(${name});`);
  }
}
