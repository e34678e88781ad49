/**
 * A small lexical-scope resolver over ESTree (acorn output), enough for the
 * rewrites: it tells, for every identifier in reference position, which
 * declaration it resolves to, so that an import binding shadowed by a local
 * variable is left alone.
 */
import type { Node } from 'acorn';

export type DeclKind =
  | 'import'
  | 'function'
  | 'class'
  | 'const'
  | 'let'
  | 'var'
  | 'param'
  | 'catch';

export interface Declaration {
  name: string;
  kind: DeclKind;
  /** The declaring node: FunctionDeclaration, VariableDeclarator, ImportSpecifier… */
  node: AnyNode;
  /** True for bindings of the module's top level. */
  topLevel: boolean;
}

// acorn's types are strict unions; the walker works on the generic shape.
export type AnyNode = Node & { [key: string]: unknown };

export interface Reference {
  id: AnyNode;
  parent: AnyNode;
  /** The key of `parent` holding `id` (e.g. 'callee', 'object'). */
  key: string;
  decl: Declaration | undefined;
}

class Scope {
  readonly names = new Map<string, Declaration>();
  constructor(
    readonly parent: Scope | undefined,
    readonly isFunction: boolean,
  ) {}
  lookup(name: string): Declaration | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const d = s.names.get(name);
      if (d) return d;
    }
    return undefined;
  }
}

function isNode(x: unknown): x is AnyNode {
  return typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string';
}

/** Names bound by a pattern (`a`, `{ a, b: [c] }`, `...d`, `e = 1`). */
export function patternNames(p: AnyNode, out: AnyNode[] = []): AnyNode[] {
  switch (p.type) {
    case 'Identifier':
      out.push(p);
      break;
    case 'ObjectPattern':
      for (const prop of p.properties as AnyNode[]) {
        if (prop.type === 'RestElement') patternNames(prop.argument as AnyNode, out);
        else patternNames(prop.value as AnyNode, out);
      }
      break;
    case 'ArrayPattern':
      for (const el of p.elements as (AnyNode | null)[]) if (el) patternNames(el, out);
      break;
    case 'RestElement':
      patternNames(p.argument as AnyNode, out);
      break;
    case 'AssignmentPattern':
      patternNames(p.left as AnyNode, out);
      break;
  }
  return out;
}

const FUNCTION_TYPES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
]);

export function isFunctionNode(n: AnyNode): boolean {
  return FUNCTION_TYPES.has(n.type);
}

/**
 * Walks a Program, calling `onRef` for every identifier in reference
 * position (with the declaration it resolves to) and `enter`/`leave` for
 * every node with its ancestors.
 */
export function resolve(
  program: AnyNode,
  visitor: {
    onRef?: (ref: Reference) => void;
    /** Every binding the module declares, in any scope. */
    onDeclare?: (id: AnyNode) => void;
    enter?: (node: AnyNode, parent: AnyNode | undefined, key: string) => void;
    leave?: (node: AnyNode, parent: AnyNode | undefined, key: string) => void;
  },
): Map<string, Declaration> {
  const top = new Scope(undefined, true);

  const declare = (scope: Scope, id: AnyNode, kind: DeclKind, node: AnyNode) => {
    const name = id.name as string;
    scope.names.set(name, { name, kind, node, topLevel: scope === top });
    visitor.onDeclare?.(id);
  };

  // Hoist the `var` declarations of a function body (not of nested functions).
  // A `var` is a statement, so only statements are visited, never expressions.
  const hoistVars = (node: AnyNode, scope: Scope) => {
    const visit = (n: AnyNode | null | undefined) => {
      if (!n) return;
      switch (n.type) {
        case 'VariableDeclaration':
          if (n.kind === 'var')
            for (const d of n.declarations as AnyNode[])
              for (const id of patternNames(d.id as AnyNode)) declare(scope, id, 'var', d);
          return;
        case 'Program':
        case 'BlockStatement':
        case 'StaticBlock':
          for (const s of n.body as AnyNode[]) visit(s);
          return;
        case 'IfStatement':
          visit(n.consequent as AnyNode);
          visit(n.alternate as AnyNode | null);
          return;
        case 'ForStatement':
          visit(n.init as AnyNode | null);
          visit(n.body as AnyNode);
          return;
        case 'ForInStatement':
        case 'ForOfStatement':
          visit(n.left as AnyNode);
          visit(n.body as AnyNode);
          return;
        case 'WhileStatement':
        case 'DoWhileStatement':
        case 'LabeledStatement':
        case 'WithStatement':
          visit(n.body as AnyNode);
          return;
        case 'TryStatement':
          visit(n.block as AnyNode);
          visit((n.handler as AnyNode | null)?.body as AnyNode | undefined);
          visit(n.finalizer as AnyNode | null);
          return;
        case 'SwitchStatement':
          for (const c of n.cases as AnyNode[]) for (const s of c.consequent as AnyNode[]) visit(s);
          return;
        case 'ExportNamedDeclaration':
          visit(n.declaration as AnyNode | null);
          return;
      }
    };
    visit(node);
  };

  // Block-level declarations (let, const, class, function in a block).
  const hoistBlock = (stmts: AnyNode[], scope: Scope) => {
    for (let s of stmts) {
      if (
        (s.type === 'ExportNamedDeclaration' || s.type === 'ExportDefaultDeclaration') &&
        s.declaration
      )
        s = s.declaration as AnyNode;
      if (s.type === 'VariableDeclaration' && s.kind !== 'var') {
        for (const d of s.declarations as AnyNode[])
          for (const id of patternNames(d.id as AnyNode)) declare(scope, id, s.kind as DeclKind, d);
      } else if (s.type === 'FunctionDeclaration' && s.id) {
        declare(scope, s.id as AnyNode, 'function', s);
      } else if (s.type === 'ClassDeclaration' && s.id) {
        declare(scope, s.id as AnyNode, 'class', s);
      } else if (s.type === 'ImportDeclaration') {
        for (const sp of s.specifiers as AnyNode[])
          declare(scope, sp.local as AnyNode, 'import', sp);
      }
    }
  };

  const walk = (node: AnyNode, parent: AnyNode | undefined, key: string, scope: Scope): void => {
    visitor.enter?.(node, parent, key);
    switch (node.type) {
      case 'Identifier':
        visitor.onRef?.({
          id: node,
          parent: parent as AnyNode,
          key,
          decl: scope.lookup(node.name as string),
        });
        break;
      case 'Program': {
        hoistVars(node, scope);
        hoistBlock(node.body as AnyNode[], scope);
        for (const s of node.body as AnyNode[]) walk(s, node, 'body', scope);
        break;
      }
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression': {
        const fs = new Scope(scope, true);
        if (node.type === 'FunctionExpression' && node.id)
          declare(fs, node.id as AnyNode, 'function', node);
        for (const p of node.params as AnyNode[])
          for (const id of patternNames(p)) declare(fs, id, 'param', node);
        // default values and computed keys in params are references
        for (const p of node.params as AnyNode[]) walkPattern(p, node, 'params', fs);
        const body = node.body as AnyNode;
        if (body.type === 'BlockStatement') {
          hoistVars(body, fs);
          hoistBlock(body.body as AnyNode[], fs);
          visitor.enter?.(body, node, 'body');
          for (const s of body.body as AnyNode[]) walk(s, body, 'body', fs);
          visitor.leave?.(body, node, 'body');
        } else {
          walk(body, node, 'body', fs);
        }
        break;
      }
      case 'ClassDeclaration':
      case 'ClassExpression': {
        const cs = new Scope(scope, false);
        if (node.id) declare(cs, node.id as AnyNode, 'class', node);
        if (node.superClass) walk(node.superClass as AnyNode, node, 'superClass', cs);
        const body = node.body as AnyNode;
        visitor.enter?.(body, node, 'body');
        for (const m of body.body as AnyNode[]) {
          visitor.enter?.(m, body, 'body');
          if (m.type === 'StaticBlock') {
            const bs = new Scope(cs, true);
            hoistVars(m, bs);
            hoistBlock(m.body as AnyNode[], bs);
            for (const s of m.body as AnyNode[]) walk(s, m, 'body', bs);
          } else {
            if (m.computed) walk(m.key as AnyNode, m, 'key', cs);
            if (m.value) walk(m.value as AnyNode, m, 'value', cs);
          }
          visitor.leave?.(m, body, 'body');
        }
        visitor.leave?.(body, node, 'body');
        break;
      }
      case 'BlockStatement':
      case 'StaticBlock': {
        const bs = new Scope(scope, false);
        hoistBlock(node.body as AnyNode[], bs);
        for (const s of node.body as AnyNode[]) walk(s, node, 'body', bs);
        break;
      }
      case 'SwitchStatement': {
        walk(node.discriminant as AnyNode, node, 'discriminant', scope);
        const ss = new Scope(scope, false);
        for (const c of node.cases as AnyNode[]) hoistBlock(c.consequent as AnyNode[], ss);
        for (const c of node.cases as AnyNode[]) walkChildren(c, ss);
        break;
      }
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement': {
        const ls = new Scope(scope, false);
        const init = (node.init ?? node.left) as AnyNode | null;
        if (init && init.type === 'VariableDeclaration' && init.kind !== 'var') {
          for (const d of init.declarations as AnyNode[])
            for (const id of patternNames(d.id as AnyNode))
              declare(ls, id, init.kind as DeclKind, d);
        }
        walkChildren(node, ls);
        break;
      }
      case 'CatchClause': {
        const cs = new Scope(scope, false);
        if (node.param) {
          for (const id of patternNames(node.param as AnyNode)) declare(cs, id, 'catch', node);
          walkPattern(node.param as AnyNode, node, 'param', cs);
        }
        walk(node.body as AnyNode, node, 'body', cs);
        break;
      }
      case 'VariableDeclarator':
        walkPattern(node.id as AnyNode, node, 'id', scope);
        if (node.init) walk(node.init as AnyNode, node, 'init', scope);
        break;
      case 'MemberExpression':
        walk(node.object as AnyNode, node, 'object', scope);
        if (node.computed) walk(node.property as AnyNode, node, 'property', scope);
        break;
      case 'Property':
        if (node.computed) walk(node.key as AnyNode, node, 'key', scope);
        if (node.shorthand && (node.value as AnyNode).type === 'Identifier') {
          walk(node.value as AnyNode, node, 'value', scope);
        } else {
          walk(node.value as AnyNode, node, 'value', scope);
        }
        break;
      case 'MethodDefinition':
      case 'PropertyDefinition':
        if (node.computed) walk(node.key as AnyNode, node, 'key', scope);
        if (node.value) walk(node.value as AnyNode, node, 'value', scope);
        break;
      case 'LabeledStatement':
        walk(node.body as AnyNode, node, 'body', scope);
        break;
      case 'BreakStatement':
      case 'ContinueStatement':
      case 'MetaProperty':
      case 'Literal':
      case 'TemplateElement':
      case 'PrivateIdentifier':
        break;
      case 'ImportDeclaration':
        break;
      case 'ExportNamedDeclaration':
        if (node.declaration) walk(node.declaration as AnyNode, node, 'declaration', scope);
        else if (!node.source)
          for (const sp of node.specifiers as AnyNode[])
            walk(sp.local as AnyNode, sp, 'local', scope);
        break;
      case 'ExportAllDeclaration':
        break;
      case 'AssignmentPattern':
      case 'ObjectPattern':
      case 'ArrayPattern':
      case 'RestElement':
        // patterns in assignment position (`[a, b] = x`): identifiers are references
        walkChildren(node, scope);
        break;
      default:
        walkChildren(node, scope);
    }
    visitor.leave?.(node, parent, key);
  };

  // A binding pattern: only default values and computed keys hold references.
  const walkPattern = (p: AnyNode, parent: AnyNode, key: string, scope: Scope): void => {
    switch (p.type) {
      case 'Identifier':
        return;
      case 'AssignmentPattern':
        walkPattern(p.left as AnyNode, p, 'left', scope);
        walk(p.right as AnyNode, p, 'right', scope);
        return;
      case 'ObjectPattern':
        for (const prop of p.properties as AnyNode[]) {
          if (prop.type === 'RestElement')
            walkPattern(prop.argument as AnyNode, prop, 'argument', scope);
          else {
            if (prop.computed) walk(prop.key as AnyNode, prop, 'key', scope);
            walkPattern(prop.value as AnyNode, prop, 'value', scope);
          }
        }
        return;
      case 'ArrayPattern':
        for (const el of p.elements as (AnyNode | null)[])
          if (el) walkPattern(el, p, 'elements', scope);
        return;
      case 'RestElement':
        walkPattern(p.argument as AnyNode, p, 'argument', scope);
        return;
      default:
        walk(p, parent, key, scope);
    }
  };

  const walkChildren = (node: AnyNode, scope: Scope): void => {
    for (const k of Object.keys(node)) {
      if (k === 'type' || k === 'start' || k === 'end' || k === 'loc' || k === 'range') continue;
      const v = node[k];
      if (Array.isArray(v)) {
        for (const c of v) if (isNode(c)) walk(c, node, k, scope);
      } else if (isNode(v)) walk(v, node, k, scope);
    }
  };

  walk(program, undefined, '', top);
  return top.names;
}
