/**
 * The cluster protocol (S11): what lives in NATS JetStream, under which
 * names, in which shape. The node side (member.ts) and the deploying side
 * (client.ts) both speak it; docs/cluster.md describes it for people.
 *
 * One key-value bucket, `hotcode`, holds every group's keys, each prefixed
 * by the group (`<group>.…`); one object store, `hotcode_objects`, holds the
 * object files of every group, each named by the SHA-256 of its bytes.
 *
 *   <g>.current               the live release: { release, attempt, at, by }, moved by CAS
 *   <g>.deploy                the deploy slot: who is deploying what, its phase and deadline
 *   <g>.release.<id>          a release: { id, parent, modules: name → hash, change, by, at }
 *   <g>.vote.<attempt>.<node> a node's vote in the prepare phase of an attempt
 *   <g>.ack.<attempt>.<node>  a node's acknowledgement after it switched
 *   <g>.node.<node>           a node's presence: its release, heartbeat, versions in use
 */
import { createHash } from 'node:crypto';
import { HotcodeError } from '../errors.js';

export const KV_BUCKET = 'hotcode';
export const OBJECT_STORE = 'hotcode_objects';

/** How often a node writes its presence; a node is live while its last one is younger than 3 beats. */
export const HEARTBEAT_MS = 1000;
export const LIVE_BEATS = 3;

/** Default deadline of each phase (S11.2 `--timeout`). */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** A server to migrate with codeChange as a release is loaded (S8.4). */
export interface ChangeSpec {
  server: string;
  module: string;
  extra?: unknown;
}

/** One module of a release: its object file, by content hash. */
export interface ReleaseModule {
  /** SHA-256 (hex) of the object file's bytes: its name in the object store. */
  hash: string;
  /** MD5 of its source (the object header's md5: what type checks and nodes compare). */
  md5: string;
  vsn: string;
  size: number;
}

/** A release (S11.1): the whole set of modules, so a node can load it from nothing. */
export interface ReleaseRecord {
  id: number;
  parent: number | null;
  modules: Record<string, ReleaseModule>;
  /** The modules this release changed relative to its parent. */
  changed: string[];
  change: ChangeSpec[];
  by: string;
  at: number;
}

/** `<g>.current`. */
export interface CurrentRecord {
  release: number;
  /** The attempt that made it current (nodes finish the attempt they prepared when they see it). */
  attempt: number;
  at: number;
  by: string;
}

export type SlotPhase = 'claimed' | 'prepare' | 'commit' | 'abort';

/** `<g>.deploy`: one attempt at moving `current` from `from` to `to` (a deploy or a rollback). */
export interface SlotRecord {
  attempt: number;
  kind: 'deploy' | 'rollback';
  from: number | null;
  to: number;
  /** The servers to migrate (S8.4) as nodes switch. */
  change: ChangeSpec[];
  /** The highest release id given out so far (the next deploy's release is one more). */
  lastRelease: number;
  by: string;
  at: number;
  /** The end of the current phase (ms since the epoch, the deployer's clock). */
  deadline: number;
  phase: SlotPhase;
  /** The nodes asked to prepare (live when the prepare phase began). */
  nodes: string[];
  /** Why it was aborted. */
  reason?: string;
}

/** `<g>.vote.<attempt>.<node>`. */
export interface VoteRecord {
  vote: 'yes' | 'no';
  /** With `no`: a code (`hash`, `badfile`, `conflict`, `not_purged`, `noproc`, `write`, `fetch`, …). */
  error?: string;
  reason?: string;
  at: number;
  /** How long the node took to prepare. */
  preparedMs: number;
}

/** `<g>.ack.<attempt>.<node>`. */
export interface AckRecord {
  ok: boolean;
  release: number;
  /** When the node's new code became current (ms since the epoch, the node's clock). */
  switchedAt: number;
  error?: string;
  reason?: string;
}

/** A version that processes use on a node (for the deploying side's transition check, S6.2). */
export interface InUseVersion {
  module: string;
  version: 'current' | 'old';
  number: number;
  md5: string;
  /** Printed pids (at most 20). */
  users: string[];
  /** The recorded source of an old version (a current one's is in the release). */
  source?: { file: string; text: string };
}

/** `<g>.node.<node>`. */
export interface PresenceRecord {
  name: string;
  host: string;
  pid: number;
  /** The release it runs (null: none yet). */
  release: number | null;
  /** When it wrote this (its clock). */
  heartbeat: number;
  /** Its heartbeat period. */
  every: number;
  /** When it joined. */
  since: number;
  /** A release it could not switch to, and why (it will not retry it by itself). */
  failed?: { release: number; error: string; reason?: string };
  inUse: InUseVersion[];
}

// ---- names -----------------------------------------------------------------------------

const GROUP = /^[A-Za-z0-9_-]{1,64}$/;
const NODE = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkGroup(group: unknown, what: string): string {
  if (typeof group !== 'string' || !GROUP.test(group))
    throw new HotcodeError(
      'badarg',
      `${what}: the group must be 1–64 characters of A–Z a–z 0–9 _ - (got ${JSON.stringify(group)})`,
    );
  return group;
}

export function checkNodeName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NODE.test(name) || name === '.' || name === '..')
    throw new HotcodeError(
      'badarg',
      `${what}: a node name is 1–64 characters of A–Z a–z 0–9 _ . - (got ${JSON.stringify(name)})`,
    );
  return name;
}

/** A node name as one key token (a dot separates tokens; `=` never occurs in names). */
export function nodeToken(name: string): string {
  return name.replaceAll('.', '=');
}

export function tokenNode(token: string): string {
  return token.replaceAll('=', '.');
}

export const keys = {
  current: (g: string) => `${g}.current`,
  slot: (g: string) => `${g}.deploy`,
  release: (g: string, id: number) => `${g}.release.${id}`,
  vote: (g: string, attempt: number, node: string) => `${g}.vote.${attempt}.${nodeToken(node)}`,
  votes: (g: string, attempt: number) => `${g}.vote.${attempt}.*`,
  ack: (g: string, attempt: number, node: string) => `${g}.ack.${attempt}.${nodeToken(node)}`,
  acks: (g: string, attempt: number) => `${g}.ack.${attempt}.*`,
  node: (g: string, node: string) => `${g}.node.${nodeToken(node)}`,
  nodes: (g: string) => `${g}.node.*`,
  /** The keys a node watches: `current` and the deploy slot (two tokens). */
  control: (g: string) => `${g}.*`,
};

/** The node a vote, ack or presence key is about (its last token). */
export function nodeOfKey(key: string): string {
  return tokenNode(key.slice(key.lastIndexOf('.') + 1));
}

// ---- values ----------------------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes a value written by this protocol; undefined when it is not JSON. */
export function decode<T>(bytes: Uint8Array | undefined): T | undefined {
  if (bytes === undefined || bytes.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    return undefined;
  }
}

/** The name of an object file in the store: the SHA-256 (hex) of its bytes. */
export function sha256(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The object store's own digest of the same bytes (`SHA-256=<base64url>`). */
export function storeDigest(bytes: string | Uint8Array): string {
  return `SHA-256=${createHash('sha256').update(bytes).digest('base64url')}`;
}

/** How long ago, and whether a presence record counts as live (`now`: the reader's clock). */
export function isLive(p: PresenceRecord, now: number): boolean {
  return now - p.heartbeat < LIVE_BEATS * Math.max(p.every, 100);
}

/** Transition specs: the newer release's `change`, whichever way the group moves (S8.4). */
export function specsBetween(from: ReleaseRecord | undefined, to: ReleaseRecord): ChangeSpec[] {
  if (from !== undefined && from.parent === to.id) return from.change;
  return to.change;
}
