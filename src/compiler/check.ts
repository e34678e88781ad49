/**
 * A change checked against a running system (S6.2): the new sources, the
 * loaded versions of every other module, and the *transitions* — the old
 * versions that processes use and will keep running after the change,
 * checked against the new code.
 *
 * Pure over a description of the system, so the node checks its own changes
 * with it (`c`, `upgrade`) and a deploying machine checks a change for a
 * remote node or a cluster with what the node sent (S9.4, S11.2): the node
 * itself then needs no TypeScript.
 */
import type { Diagnostic } from '../types.js';
import type { GateVerdict } from './index.js';
import type { SourceText, TransitionSource, TypeCheckRequest, TypeGate } from './typegate/index.js';

/** One loaded version of a running system, as a type check needs it. */
export interface SystemVersion<P = string> {
  module: string;
  version: 'current' | 'old';
  /** Which version of its module (1, 2, … as the node installed them). */
  number: number;
  md5: string;
  /** The source recorded in its object file, if any. */
  source: { file: string; text: string } | undefined;
  /** Processes suspended in its code (S4.3): pids, or their printed form when remote. */
  users: P[];
}

/** Who runs the old versions of `module` that a change would break. */
export interface OldUsersOf<P> {
  module: string;
  pids: P[];
}

export interface ChangeCheck<P> {
  verdict: GateVerdict;
  /** Users of the old versions the change breaks (a refusal's `oldUsers`). */
  oldUsers: OldUsersOf<P>[];
  /** With `oldCode: 'kill'` and only transition errors: the processes to kill as the change loads. */
  kill: P[];
}

/**
 * The old versions a change would leave running (S6.2, S4.3): for a module
 * of the change, its current version that the load makes old, if processes
 * use it; for any other module, its old version in use (it keeps running and
 * calls the new code). The old version of a module in the change is not
 * counted: the load purges it, killing its users. `exclude`: processes that
 * will not run the old code after the change (the servers an upgrade
 * migrates with codeChange).
 */
export function transitionsOf<P>(
  system: readonly SystemVersion<P>[],
  changed: ReadonlySet<string>,
  exclude: ReadonlySet<P> = new Set(),
): { sources: TransitionSource[]; users: Map<string, OldUsersOf<P>> } {
  const sources: TransitionSource[] = [];
  const users = new Map<string, OldUsersOf<P>>();
  for (const v of system) {
    if (v.version !== (changed.has(v.module) ? 'current' : 'old')) continue;
    const pids = v.users.filter((p) => !exclude.has(p));
    if (pids.length === 0 || v.source === undefined) continue;
    const id = `${v.module}#${v.number}`;
    sources.push({
      id,
      module: v.module,
      ...v.source,
      label: `version ${v.number}, used by ${pids.map(String).join(', ')}`,
    });
    users.set(id, { module: v.module, pids });
  }
  return { sources, users };
}

/**
 * Type-checks `changed` (new sources) against `system`: its current versions
 * of every other module, and the transitions. With `oldCode: 'kill'`, a
 * change whose only errors are transition errors passes, and the users of
 * the broken versions are returned in `kill`.
 */
export async function checkChange<P>(
  gate: TypeGate,
  system: readonly SystemVersion<P>[],
  changed: SourceText[],
  opts: { oldCode?: 'kill' | 'refuse' | undefined; exclude?: ReadonlySet<P> } = {},
): Promise<ChangeCheck<P>> {
  const names = new Set(changed.map((x) => x.module));
  const { sources, users } = transitionsOf(system, names, opts.exclude);
  const loaded: SourceText[] = [];
  const previous: SourceText[] = [];
  for (const v of system) {
    if (v.version !== 'current' || v.source === undefined) continue;
    (names.has(v.module) ? previous : loaded).push({ module: v.module, ...v.source });
  }
  const request: TypeCheckRequest = { changed, loaded, transitions: sources, previous };
  const verdict = await gate.check(request);
  const out: ChangeCheck<P> = { verdict: { ok: true, diagnostics: [] }, oldUsers: [], kill: [] };
  if ('configError' in verdict) {
    out.verdict = { ok: false, diagnostics: [verdict.configError] };
    return out;
  }
  out.verdict = verdict;
  if (verdict.ok) return out;
  for (const id of verdict.brokenTransitions ?? []) {
    const u = users.get(id);
    if (u !== undefined) out.oldUsers.push(u);
  }
  const onlyTransitions = verdict.diagnostics.every(
    (d: Diagnostic) => d.category !== 'error' || d.transition !== undefined,
  );
  if (opts.oldCode === 'kill' && onlyTransitions && out.oldUsers.length > 0) {
    out.kill = [...new Set(out.oldUsers.flatMap((u) => u.pids))];
    out.verdict = {
      ok: true,
      diagnostics: verdict.diagnostics.filter((d: Diagnostic) => d.category !== 'error'),
    };
  }
  return out;
}
