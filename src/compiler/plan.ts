/**
 * The deploying side of a remote or cluster deploy (S9.4, S11.2): compile
 * here, type-check here against the system the node (or the group's
 * release) describes — its loaded sources and which old versions processes
 * use — and hand over object files and what they were checked against. The
 * node then needs no TypeScript: it only loads.
 */
import { readFileSync } from 'node:fs';
import type { Diagnostic } from '../types.js';
import { md5 } from '../vocabulary.js';
import { type ChangeCheck, checkChange, type OldUsersOf, type SystemVersion } from './check.js';
import { compileSource } from './compile.js';
import { findSource } from './index.js';
import type { TypeGate } from './typegate/index.js';

export interface PlanRequest {
  /** Source directories to read the modules from. */
  srcDirs: readonly string[];
  /** The modules to deploy; none: every source module whose source differs from the system's current version. */
  modules?: readonly string[];
  /** Every module name the source directories hold (to find the changed ones when `modules` is empty). */
  sourceModules?: readonly string[];
  /** The running system (the node's `describeSystem`, or a release's modules). */
  system: readonly SystemVersion<string>[];
  /** The type gate to check with; undefined: no type check (`--no-typecheck`). */
  gate?: TypeGate | undefined;
  oldCode?: 'kill' | 'refuse';
  /** Processes that will not run old code after the change (servers an upgrade migrates). */
  exclude?: ReadonlySet<string>;
}

/** A change ready to load on the node. */
export interface DeployPlan {
  /** Object files, as the compiler wrote them, with each module's version change. */
  objects: { module: string; text: string; md5: string; from?: number }[];
  /** The md5 of each module's current version it was checked against (`null`: none). */
  expect: Record<string, string | null>;
  /** Processes to kill as it loads (`oldCode: 'kill'`). */
  kill: string[];
  /** Warnings of the compiler and the gate. */
  warnings: Diagnostic[];
}

export type PlanResult =
  | { ok: true; plan: DeployPlan }
  | { ok: false; error: 'nofile'; module: string }
  | { ok: false; error: 'compile'; diagnostics: Diagnostic[]; oldUsers?: OldUsersOf<string>[] };

/** Compiles and checks a change for a system described by another process. */
export async function planDeploy(req: PlanRequest): Promise<PlanResult> {
  const current = new Map<string, SystemVersion<string>>();
  for (const v of req.system) if (v.version === 'current') current.set(v.module, v);
  const sources: { module: string; file: string; text: string }[] = [];
  const wanted = req.modules?.length ? req.modules : (req.sourceModules ?? []);
  for (const m of wanted) {
    const file = findSource(req.srcDirs, m);
    if (file === undefined) return { ok: false, error: 'nofile', module: m };
    const text = readFileSync(file, 'utf8');
    // With no modules named, only those whose source differs from what runs.
    if (!req.modules?.length && current.get(m)?.md5 === md5(text)) continue;
    sources.push({ module: m, file, text });
  }
  const outcomes = await Promise.all(sources.map((s) => compileSource(s.module, s.file, s.text)));
  const diagnostics: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const objects: DeployPlan['objects'] = [];
  outcomes.forEach((o, i) => {
    if (!o.ok) {
      diagnostics.push(...o.diagnostics);
      return;
    }
    warnings.push(...o.compiled.warnings);
    const m = sources[i]!.module;
    const from = current.get(m)?.number;
    objects.push({
      module: m,
      text: o.compiled.text,
      md5: o.compiled.header.md5,
      ...(from !== undefined ? { from } : {}),
    });
  });
  if (diagnostics.length) return { ok: false, error: 'compile', diagnostics };
  let check: ChangeCheck<string> | undefined;
  if (req.gate !== undefined && sources.length) {
    check = await checkChange(req.gate, req.system, sources, {
      oldCode: req.oldCode,
      ...(req.exclude ? { exclude: req.exclude } : {}),
    });
    if (!check.verdict.ok)
      return {
        ok: false,
        error: 'compile',
        diagnostics: check.verdict.diagnostics,
        ...(check.oldUsers.length ? { oldUsers: check.oldUsers } : {}),
      };
    warnings.push(...check.verdict.diagnostics);
  }
  const expect: Record<string, string | null> = {};
  for (const v of current.values()) expect[v.module] = v.md5;
  for (const o of objects) expect[o.module] ??= null;
  return { ok: true, plan: { objects, expect, kill: check?.kill ?? [], warnings } };
}
