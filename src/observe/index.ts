/**
 * The node's side of the observer (S10): the node describes itself — its
 * vital signs, modules and versions, processes, supervision trees and code
 * changes — in one JSON snapshot, and carries out the page's actions. The
 * observer process (src/observer/) only relays and renders: it needs no
 * TypeScript, and the node serves no HTTP.
 *
 * Everything is read through the public API and the runtime's services, as
 * the shell reads it; nothing here writes module or process state except
 * through the public calls a user could make (`code.purge`, `exit(pid,
 * 'kill')`, …).
 *
 * The vital signs come from a sampler that starts with the first observer
 * and stops ten minutes after the last one asked: once a second it records
 * heap, RSS, the event-loop delay (`monitorEventLoopDelay`, measured here on
 * the node), the process count and the messages delivered; it keeps ten
 * minutes of samples, so an observer that attaches later still draws them.
 */
import { statSync } from 'node:fs';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { changeHistory, withOrigin } from '../changes.js';
import { code, exit, l, Pid, processes, processInfo, sys } from '../index.js';
import { isStarted, services } from '../node.js';
import { describe, hotcodeVersion } from '../vocabulary.js';
import {
  type Action,
  type ActionResult,
  type HistoryEntry,
  INSPECT_MAX,
  type Inspection,
  MAILBOX_PREVIEW,
  type ModuleRow,
  PROCESS_LIMIT,
  type ProcessDetail,
  type ProcessRow,
  SAMPLES_KEPT,
  type Sample,
  type Snapshot,
  type SnapshotOptions,
  type TreeChild,
  type TreeNode,
  USERS_LISTED,
} from './types.js';

export * from './types.js';

// ---- the sampler ---------------------------------------------------------------------------

const SAMPLE_MS = 1000;
/** How often the event-loop delay is probed (ms): 50 wakeups a second while observed. */
const ELD_RESOLUTION_MS = 20;
/** The sampler stops when no observer has asked for this long. */
const IDLE_STOP_MS = 10 * 60_000;

interface Sampler {
  timer: NodeJS.Timeout;
  eld: IntervalHistogram;
  lastT: number;
  lastDelivered: number;
  lastAsked: number;
}

let sampler: Sampler | undefined;
const samples: Sample[] = [];
let seq = 0;

function takeSample(s: Sampler, measured: boolean): void {
  const t = Date.now();
  const mem = process.memoryUsage();
  const delivered = services.messagesDelivered();
  const dt = Math.max(1, t - s.lastT) / 1000;
  // The histogram is in nanoseconds and counts the timer's own interval: the delay is what
  // exceeds it. Reset each second, so the percentiles are the last second's.
  const p = (q: number) =>
    measured && s.eld.count > 0
      ? round(Math.max(0, s.eld.percentile(q) / 1e6 - ELD_RESOLUTION_MS))
      : null;
  samples.push({
    seq: ++seq,
    t,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    rss: mem.rss,
    eldP50: p(50),
    eldP99: p(99),
    processes: services.processCount(),
    messagesPerSec: measured ? Math.round((delivered - s.lastDelivered) / dt) : 0,
  });
  if (samples.length > SAMPLES_KEPT) samples.splice(0, samples.length - SAMPLES_KEPT);
  s.eld.reset();
  s.lastT = t;
  s.lastDelivered = delivered;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Starts the sampler if it is not running, and notes that an observer asked. */
function ensureSampler(): void {
  const now = Date.now();
  if (sampler) {
    sampler.lastAsked = now;
    return;
  }
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();
  const s: Sampler = {
    eld,
    lastT: now,
    lastDelivered: services.messagesDelivered(),
    lastAsked: now,
    timer: setInterval(() => {
      if (!isStarted() || Date.now() - s.lastAsked > IDLE_STOP_MS) stopSampler();
      else takeSample(s, true);
    }, SAMPLE_MS),
  };
  s.timer.unref(); // an observer never keeps a node alive
  sampler = s;
  takeSample(s, false);
}

/** Stops the sampler (the node stopped, or nobody has looked for ten minutes); the samples stay. */
export function stopSampler(): void {
  if (!sampler) return;
  clearInterval(sampler.timer);
  sampler.eld.disable();
  sampler = undefined;
}

// ---- the snapshot --------------------------------------------------------------------------

/**
 * Whether each module's object file differs from its loaded version,
 * re-read only when a file's size or time changed (a stat per module per
 * snapshot instead of reading and parsing every object file each second).
 */
let modifiedKey = '';
let modified = new Set<string>();
function modifiedModules(files: [string, string][]): Set<string> {
  let key = '';
  for (const [m, file] of files) {
    let st = 'missing';
    try {
      const s = statSync(file);
      st = `${s.size}:${s.mtimeMs}`;
    } catch {}
    key += `${m}@${code.versions(m).current?.md5 ?? ''}@${st};`;
  }
  if (key !== modifiedKey) {
    modifiedKey = key;
    modified = new Set(code.modifiedModules());
  }
  return modified;
}

/** The modules table's rows, and the processes in old versions (their Pids). */
function moduleRows(): { modules: ModuleRow[]; oldUsers: Pid[] } {
  const summaries = services.versionSummaries().sort((a, b) => (a.module < b.module ? -1 : 1));
  const mod = modifiedModules(code.allLoaded());
  const modules: ModuleRow[] = [];
  const oldUsers: Pid[] = [];
  for (const s of summaries) {
    const m = s.module;
    const vs = code.versions(m);
    const row: ModuleRow = { module: m, runtime: code.isSticky(m), modified: mod.has(m) };
    if (vs.current) {
      row.current = { vsn: vs.current.vsn, loadedAt: vs.current.loadedAt, file: vs.current.file };
      if (s.current !== undefined) row.current.number = s.current;
    }
    if (vs.old) {
      row.old = {
        vsn: vs.old.vsn,
        loadedAt: vs.old.loadedAt,
        users: s.oldUsers.slice(0, USERS_LISTED).map(String),
        userCount: s.oldUsers.length,
      };
      if (s.old !== undefined) row.old.number = s.old;
      for (const pid of s.oldUsers) if (oldUsers.length < OLD_ROWS_MAX) oldUsers.push(pid);
    }
    modules.push(row);
  }
  return { modules, oldUsers };
}

const SUPERVISOR_CALL = 'supervisor.init/1';

function processRow(pid: Pid): ProcessRow | undefined {
  const info = processInfo(pid);
  if (info === undefined) return undefined;
  const row: ProcessRow = {
    pid: String(pid),
    status: info.status,
    messageQueueLen: info.messageQueueLen,
    modules: info.modules.map((m) => ({ module: m.module, version: m.version })),
  };
  if (info.registeredName !== undefined) row.name = info.registeredName;
  if (info.initialCall !== undefined) row.initialCall = info.initialCall;
  if (info.initialCall === SUPERVISOR_CALL) row.supervisor = true;
  return row;
}

/** Processes in old code sent beyond the longest mailboxes, at most. */
const OLD_ROWS_MAX = 5000;

/**
 * The processes table's rows: the `limit` longest mailboxes, then every
 * process in old code and every supervisor (up to {@link OLD_ROWS_MAX}),
 * found in one pass over the table, so that a node of 100,000 processes pays
 * for the rows it sends, not for a processInfo of each.
 */
function processRows(
  limit: number,
  oldUsers: readonly Pid[],
): {
  rows: ProcessRow[];
  all: Map<string, ProcessRow>;
  pids: Map<string, Pid>;
  total: number;
  supervisors: Pid[];
} {
  const survey = services.surveyProcesses(limit, SUPERVISOR_CALL);
  const all = new Map<string, ProcessRow>();
  const pids = new Map<string, Pid>();
  const add = (pid: Pid) => {
    const key = String(pid);
    if (all.has(key)) return;
    const r = processRow(pid);
    if (r) {
      all.set(key, r);
      pids.set(key, pid);
    }
  };
  for (const pid of survey.longest) add(pid);
  const rows = [...all.values()];
  for (const pid of [...oldUsers, ...survey.matching]) {
    if (all.has(String(pid))) continue;
    add(pid);
    const r = all.get(String(pid));
    if (r) rows.push(r);
  }
  return { rows, all, pids, total: survey.count, supervisors: survey.matching };
}

/** How long a supervisor may take to describe its children before the tree says so. */
const TREE_TIMEOUT_MS = 1000;
/** Supervisors asked per snapshot at most. */
const TREES_MAX = 100;

interface SupervisorStateLike {
  module?: unknown;
  strategy?: unknown;
  children?: { spec?: { id?: unknown; restart?: unknown }; pid?: unknown }[];
}

async function supervisionTrees(
  supervisors: readonly Pid[],
  all: Map<string, ProcessRow>,
): Promise<TreeNode[]> {
  const sups = supervisors.slice(0, TREES_MAX);
  if (sups.length === 0) return [];
  const nodes = new Map<string, TreeNode>();
  await Promise.all(
    sups.map(async (pid) => {
      const r = all.get(String(pid)) ?? processRow(pid);
      if (r === undefined) return;
      const node: TreeNode = { pid: r.pid, children: [] };
      if (r.name !== undefined) node.name = r.name;
      nodes.set(r.pid, node);
      try {
        // sys.getStatus is answered while a supervisor is suspended too, and has a timeout.
        const st = await sys.getStatus(pid, TREE_TIMEOUT_MS);
        const state = st.state as SupervisorStateLike;
        if (typeof state?.module === 'string') node.module = state.module;
        if (typeof state?.strategy === 'string') node.strategy = state.strategy;
        for (const c of Array.isArray(state?.children) ? state.children : []) {
          const child: TreeChild = {
            id: String(c?.spec?.id),
            restart: String(c?.spec?.restart ?? 'permanent'),
          };
          if (c?.pid instanceof Pid) {
            child.pid = String(c.pid);
            const cr = all.get(child.pid) ?? processRow(c.pid);
            if (cr?.name !== undefined) child.name = cr.name;
            if (cr?.initialCall !== undefined) child.initialCall = cr.initialCall;
          }
          node.children.push(child);
        }
      } catch (e) {
        node.error = describe((e as { code?: unknown })?.code ?? e);
      }
    }),
  );
  // Nest: a child that is a supervisor carries its own tree; roots are nobody's children.
  const nested = new Set<string>();
  for (const n of nodes.values())
    for (const c of n.children) {
      const sub = c.pid === undefined ? undefined : nodes.get(c.pid);
      if (sub !== undefined && sub !== n) {
        c.tree = sub;
        nested.add(sub.pid);
      }
    }
  return [...nodes.values()].filter((n) => !nested.has(n.pid));
}

function historyEntries(): HistoryEntry[] {
  return changeHistory().map((h) => {
    const e: HistoryEntry = {
      at: h.at,
      origin: h.origin,
      kind: h.kind,
      modules: h.modules.map((m) => ({ ...m })),
      result: h.result,
      killed: [...h.killed],
    };
    if (h.error !== undefined) e.error = h.error;
    return e;
  });
}

/** What a subscriber has already been sent (for the history: sent again only when it changed). */
export interface SnapshotCursor {
  since: number;
  historyKey?: string;
}

/** A serial number per history entry, given when first seen (entries never change once made). */
const serials = new WeakMap<object, number>();
let nextSerial = 1;

/** The history's identity: its length and its newest entry. */
function historyKey(): string {
  const last = changeHistory().at(-1);
  if (last === undefined) return '0';
  let n = serials.get(last);
  if (n === undefined) {
    n = nextSerial++;
    serials.set(last, n);
  }
  return `${changeHistory().length}:${n}`;
}

/**
 * The node described in one go (S10.2). `name` is the node's name as its
 * control listener knows it. With a cursor, the samples and the history
 * are only those the subscriber has not had; the cursor moves on.
 */
export async function collectSnapshot(
  name: string,
  options: SnapshotOptions = {},
  cursor?: SnapshotCursor,
): Promise<Snapshot> {
  ensureSampler();
  const since = cursor?.since ?? options.since ?? 0;
  const limit = Math.max(1, Math.min(options.processLimit ?? PROCESS_LIMIT, 10_000));
  const { modules, oldUsers } = moduleRows();
  const { rows, all, pids, total, supervisors } = processRows(limit, oldUsers);
  const snapshot: Snapshot = {
    node: {
      name,
      osPid: process.pid,
      hotcode: hotcodeVersion(),
      nodeVersion: process.version,
      uptimeMs: Math.round(process.uptime() * 1000),
      now: Date.now(),
    },
    samples: samples.filter((s) => s.seq > since),
    modules,
    processes: { total, rows, limit },
    trees: await supervisionTrees(supervisors, all),
  };
  if (options.inspect !== undefined && options.inspect.length > 0) {
    const details: ProcessDetail[] = [];
    for (const x of options.inspect.slice(0, INSPECT_MAX)) {
      const pid = pids.get(x.pid) ?? pidArg(x.pid);
      const d = pid === undefined ? undefined : inspect(pid, x.mailbox === true);
      if (d !== undefined) details.push(d);
    }
    snapshot.details = details;
  }
  const key = historyKey();
  if (cursor === undefined || cursor.historyKey !== key) snapshot.history = historyEntries();
  if (cursor) {
    cursor.since = samples.at(-1)?.seq ?? cursor.since;
    cursor.historyKey = key;
  }
  return snapshot;
}

// ---- subscriptions -------------------------------------------------------------------------

/** How often a subscriber gets a snapshot (S10.2: at least every 2 s). */
export const SNAPSHOT_MS = 1000;

/** A subscriber's stream of snapshots; `poke` takes the next one now (after an action). */
export interface Subscription {
  poke(): void;
  /** Which processes its snapshots describe in `details` (the rows open on its pages); takes one now. */
  inspect(list: readonly Inspection[]): void;
  close(): void;
}

const subscriptions = new Set<Subscription>();

/**
 * Sends `deliver` a snapshot now and then every {@link SNAPSHOT_MS}: the
 * first one complete, later ones with only the new samples and, when it
 * changed, the history. A slow consumer is never queued up: the next
 * snapshot is collected when the last one was delivered; `deliver`
 * returning false skips a beat (its connection is still busy sending).
 */
export function subscribe(
  name: string,
  options: SnapshotOptions,
  deliver: (s: Snapshot) => boolean | undefined,
  onError: (e: unknown) => void = () => {},
  intervalMs = SNAPSHOT_MS,
): Subscription {
  let opts = options;
  const cursor: SnapshotCursor = { since: options.since ?? 0 };
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let again = false;
  let closed = false;
  const schedule = (ms: number) => {
    timer = setTimeout(run, ms);
    timer.unref(); // an observer never keeps a node alive
  };
  async function run(): Promise<void> {
    if (closed) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    clearTimeout(timer);
    const before = { ...cursor };
    try {
      const s = await collectSnapshot(name, opts, cursor);
      // Not delivered: the next one carries these samples and history again.
      if (!closed && deliver(s) === false) Object.assign(cursor, before);
    } catch (e) {
      onError(e);
    } finally {
      busy = false;
      if (!closed) {
        if (again) {
          again = false;
          schedule(0);
        } else schedule(intervalMs);
      }
    }
  }
  const sub: Subscription = {
    poke: () => void run(),
    inspect(list) {
      opts = { ...opts, inspect: list.slice(0, INSPECT_MAX).map((x) => ({ ...x })) };
      void run();
    },
    close() {
      closed = true;
      clearTimeout(timer);
      subscriptions.delete(sub);
    },
  };
  subscriptions.add(sub);
  void run();
  return sub;
}

/** Every subscriber gets a snapshot now (an action changed something). */
function pokeAll(): void {
  for (const s of subscriptions) s.poke();
}

// ---- actions -------------------------------------------------------------------------------

function pidArg(s: unknown): Pid | undefined {
  if (typeof s !== 'string') return undefined;
  for (const p of processes()) if (String(p) === s) return p;
  return undefined;
}

function moduleArg(m: unknown): string | undefined {
  return typeof m === 'string' && code.isLoaded(m) !== false ? m : undefined;
}

function oldUsers(m: string): string[] {
  return (services.versionSummaries().find((v) => v.module === m)?.oldUsers ?? []).map(String);
}

function refuse(error: string, message: string, users?: number): ActionResult {
  return users === undefined ? { ok: false, error, message } : { ok: false, error, message, users };
}

/**
 * Carries out one of the page's actions (S10.2). The caller — the observer
 * process — has already decided whether destructive actions are allowed
 * (S10.3); here each is checked against the node as it is now: a purge
 * whose confirmation named another number of processes than would now be
 * killed is refused with `changed`, and nothing changes.
 */
export function act(action: Action): ActionResult {
  const r = withOrigin('observer', () => actNow(action));
  if (r.ok && r.type !== 'inspect') pokeAll();
  return r;
}

function actNow(action: Action): ActionResult {
  if (action === null || typeof action !== 'object')
    return refuse('badarg', 'an action is an object with a type');
  switch (action.type) {
    case 'softPurge': {
      const m = moduleArg(action.module);
      if (m === undefined) return refuse('badarg', `no loaded module ${describe(action.module)}`);
      const users = oldUsers(m).length;
      return { ok: true, type: 'softPurge', purged: code.softPurge(m), users };
    }
    case 'purge':
    case 'load': {
      const m = moduleArg(action.module);
      if (m === undefined) return refuse('badarg', `no loaded module ${describe(action.module)}`);
      const users = code.checkOldCode(m) ? oldUsers(m) : [];
      if (action.expect !== undefined && action.expect !== users.length)
        return refuse(
          'changed',
          `${m}'s old version is now used by ${users.length} process${users.length === 1 ? '' : 'es'}, not ${action.expect}: confirm again`,
          users.length,
        );
      if (action.type === 'purge') {
        code.purge(m);
        const alive = new Set(processes().map(String));
        return { ok: true, type: 'purge', killed: users.filter((p) => !alive.has(p)) };
      }
      const r = l(m) as { module?: string; error?: string; killed?: Pid[] };
      if (r.error !== undefined)
        return refuse(r.error, `loading ${m} failed: ${r.error}${reasonOf(r)}`);
      return {
        ok: true,
        type: 'load',
        ...(code.versions(m).current ? { number: currentNumber(m) } : {}),
        killed: (r.killed ?? []).map(String),
      };
    }
    case 'kill': {
      const pid = pidArg(action.pid);
      if (pid === undefined) return refuse('noproc', `no process ${describe(action.pid)}`);
      exit(pid, 'kill');
      return { ok: true, type: 'kill', pid: String(pid) };
    }
    case 'inspect': {
      const pid = pidArg(action.pid);
      const detail = pid === undefined ? undefined : inspect(pid, action.mailbox === true);
      if (detail === undefined) return refuse('noproc', `no process ${describe(action.pid)}`);
      return { ok: true, type: 'inspect', detail };
    }
    default:
      return refuse(
        'badarg',
        `unknown action ${describe((action as { type?: unknown }).type)} (softPurge, purge, load, kill, inspect)`,
      );
  }
}

function reasonOf(r: object): string {
  const reason = (r as { reason?: unknown }).reason;
  return reason === undefined ? '' : ` (${describe(reason)})`;
}

function currentNumber(m: string): number | undefined {
  return services.versionSummaries().find((v) => v.module === m)?.current;
}

function inspect(pid: Pid, mailbox: boolean): ProcessDetail | undefined {
  const row = processRow(pid);
  const info = processInfo(pid);
  const peers = services.monitorPeers(pid);
  if (row === undefined || info === undefined || peers === undefined) return undefined;
  const detail: ProcessDetail = {
    ...row,
    trapExit: info.trapExit,
    links: info.links.map(String),
    monitors: peers.monitors.map((m) => ({ ref: String(m.ref), pid: String(m.pid) })),
    monitoredBy: peers.monitoredBy.map((m) => ({ ref: String(m.ref), pid: String(m.pid) })),
  };
  if (mailbox) {
    const messages = services.peekMailbox(pid, MAILBOX_PREVIEW) ?? [];
    detail.mailbox = { total: info.messageQueueLen, messages: messages.map((m) => describe(m)) };
  }
  return detail;
}
