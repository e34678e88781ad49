/**
 * What the observer (S10) sees of a node: the snapshot the node collects
 * about itself, and the actions the page may ask for. Everything here is
 * plain JSON — pids in their printed form (`<0.85.0>`), times in ms since
 * the epoch — because it crosses the control connection (S9) and then an
 * HTTP response unchanged.
 */

/** One second of the node's vital signs (the header and its 10-minute charts). */
export interface Sample {
  /** A sequence number within the node's sampler: a client asks for samples after the last it has. */
  seq: number;
  /** When it was taken (ms since the epoch). */
  t: number;
  heapUsed: number;
  heapTotal: number;
  rss: number;
  /** Event-loop delay over the second before `t`, from `monitorEventLoopDelay` on the node (ms); null when not measured yet. */
  eldP50: number | null;
  eldP99: number | null;
  /** Live processes. */
  processes: number;
  /** Messages delivered to mailboxes per second over the second before `t`. */
  messagesPerSec: number;
}

/** A module and its two versions (S2). */
export interface ModuleRow {
  module: string;
  /** One of the runtime's own modules (genServer, supervisor, …: sticky, S6.6). */
  runtime: boolean;
  current?: { number?: number; vsn: string; loadedAt: number; file: string };
  old?: {
    number?: number;
    vsn: string;
    loadedAt: number;
    /** Processes that use the old version (S4.3), at most {@link USERS_LISTED} of them. */
    users: string[];
    /** How many processes use it (also when more than are listed). */
    userCount: number;
  };
  /** Its object file on the code path differs from the current version (`mm()`): `load` would load it. */
  modified: boolean;
}

/** A process as the processes table shows it (S5.6). */
export interface ProcessRow {
  pid: string;
  name?: string;
  initialCall?: string;
  status: 'running' | 'waiting' | 'suspended';
  messageQueueLen: number;
  /** The module versions it uses (S4.3). */
  modules: { module: string; version: 'current' | 'old' }[];
  /** It is a supervisor (S8.3). */
  supervisor?: true;
}

/** A supervisor and its children, nested where a child is a supervisor itself. */
export interface TreeNode {
  pid: string;
  name?: string;
  /** Its callback module. */
  module?: string;
  strategy?: string;
  children: TreeChild[];
  /** Why its children could not be read (it did not answer in time, say). */
  error?: string;
}

export interface TreeChild {
  id: string;
  /** Absent while the child is not running. */
  pid?: string;
  restart: string;
  name?: string;
  initialCall?: string;
  /** The child is a supervisor: its own children. */
  tree?: TreeNode;
}

/** One code change (changes.ts ChangeRecord, as JSON). */
export interface HistoryEntry {
  at: number;
  origin: string;
  kind: string;
  modules: { module: string; from?: number; to?: number }[];
  result: string;
  error?: string;
  killed: string[];
}

export interface NodeFacts {
  name: string;
  /** The node's OS process id. */
  osPid: number;
  hotcode: string;
  /** Node.js's version on the node. */
  nodeVersion: string;
  uptimeMs: number;
  /** The node's clock when the snapshot was taken. */
  now: number;
}

/** Everything the page shows, collected on the node in one go. */
export interface Snapshot {
  node: NodeFacts;
  /** The samples after the `since` the request gave, oldest first (the last 10 minutes at most). */
  samples: Sample[];
  modules: ModuleRow[];
  processes: {
    /** Live processes on the node. */
    total: number;
    /**
     * By mailbox length, longest first: at most `limit`, plus every process
     * in old code (the filter must find them all).
     */
    rows: ProcessRow[];
    limit: number;
  };
  /** The supervision trees: every supervisor that is nobody's child, with its descendants. */
  trees: TreeNode[];
  /** The last code changes, oldest first; absent when unchanged since the subscriber's last snapshot. */
  history?: HistoryEntry[];
  /** The processes the options asked to inspect (those still alive). */
  details?: ProcessDetail[];
}

/** A process whose row is open on a page: its detail comes with every snapshot. */
export interface Inspection {
  pid: string;
  /** Its mailbox too (opt-in: messages may hold private data). */
  mailbox?: boolean;
}

export interface SnapshotOptions {
  /** Only samples with a greater `seq` (0: all of the last 10 minutes). */
  since?: number;
  /** How many process rows at most (default {@link PROCESS_LIMIT}). */
  processLimit?: number;
  /** Processes to describe in `details` (at most {@link INSPECT_MAX}). */
  inspect?: Inspection[];
}

/** The page's actions. `purge`, `load` of a module whose old code is in use, and `kill` are destructive. */
export type Action =
  | { type: 'softPurge'; module: string }
  /** `expect`: how many processes the confirmation said it would kill; another count refuses (`changed`). */
  | { type: 'purge'; module: string; expect?: number }
  | { type: 'load'; module: string; expect?: number }
  | { type: 'kill'; pid: string }
  | { type: 'inspect'; pid: string; mailbox?: boolean };

export type ActionResult =
  | { ok: true; type: 'softPurge'; purged: boolean; users: number }
  | { ok: true; type: 'purge'; killed: string[] }
  | { ok: true; type: 'load'; number?: number; killed: string[] }
  | { ok: true; type: 'kill'; pid: string }
  | { ok: true; type: 'inspect'; detail: ProcessDetail }
  | { ok: false; error: string; message: string; users?: number };

/** What a process row opens (S10.2): links, monitors and, asked for, its mailbox. */
export interface ProcessDetail extends ProcessRow {
  trapExit: boolean;
  links: string[];
  /** Monitors it holds: the monitored process. */
  monitors: { ref: string; pid: string }[];
  /** Monitors on it: who watches. */
  monitoredBy: { ref: string; pid: string }[];
  /** The oldest messages, described (never evaluated on the page); only when asked for. */
  mailbox?: { total: number; messages: string[] };
}

/** Rows of the processes table sent at most (the longest mailboxes first). */
export const PROCESS_LIMIT = 500;
/** Processes in old code listed per module (all are counted). */
export const USERS_LISTED = 1000;
/** Processes inspected per snapshot at most. */
export const INSPECT_MAX = 20;
/** Messages shown in a mailbox preview. */
export const MAILBOX_PREVIEW = 20;
/** Seconds of samples kept: the charts' 10 minutes. */
export const SAMPLES_KEPT = 600;
