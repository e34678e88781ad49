/**
 * A node's part in its group (S11.1, S11.2, S11.3): it records its presence
 * by heartbeat, loads the group's current release before `start` resolves,
 * takes part in the two phases of every deploy and rollback, and converges on
 * `current` whenever it finds itself on another release (it was down, it
 * missed a decision while NATS restarted, a deploy went on without it).
 *
 * Every release a node switches to is ONE change through its queue (S6.7):
 * fetch the object files from the object store and verify each by its
 * SHA-256, prepare them (`prepareBinaries`, loading nothing), stage them next
 * to `out`, vote; then wait for the decision until the phase's deadline;
 * then either finish — move the staged files into `out` (so a restart loads
 * them too) and install them at once, or run the release's `change` specs as
 * a release upgrade (S8.4) — or drop what it prepared. Nothing here ever
 * enqueues from inside a queued change.
 */
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { KvEntry } from '@nats-io/kv';
import type { UpgradeFn } from '../behaviours.js';
import { recordClusterChange } from '../changes.js';
import type { ChangeContext } from '../code/server.js';
import { HotcodeError } from '../errors.js';
import { currentNode, processes, server } from '../node.js';
import type { PreparedCode } from '../types.js';
import { describe } from '../vocabulary.js';
import {
  type ClusterConnection,
  type ClusterOptions,
  checkClusterOptions,
  openCluster,
} from './connection.js';
import {
  type AckRecord,
  type ChangeSpec,
  type CurrentRecord,
  checkNodeName,
  decode,
  encode,
  HEARTBEAT_MS,
  type InUseVersion,
  keys,
  type PresenceRecord,
  type ReleaseModule,
  type ReleaseRecord,
  type SlotRecord,
  sha256,
  specsBetween,
  type VoteRecord,
} from './protocol.js';

/** What the member tells about itself (tests, the bench and the demo listen). */
export const clusterEvents = new EventEmitter();

type Decision = 'commit' | 'abort' | 'timeout' | 'stopped';

/** A refusal: why this node cannot switch to a release. */
interface Refusal {
  error: string;
  reason: string;
}

/** A release prepared here, not yet installed. */
interface Prepared {
  to: ReleaseRecord;
  /** The modules that change on this node. */
  items: { module: string; file: string; text: string }[];
  prepared: PreparedCode | undefined;
  /** Staged copies of the object files, renamed into `out` when it finishes. */
  staged: { tmp: string; file: string }[];
  specs: ChangeSpec[];
}

/** Extra time a node waits for a decision after the prepare deadline (clock skew, a slow CAS). */
const DECISION_GRACE_MS = 2000;
/** While a node waits for a decision it also reads the keys this often (a watch can miss while NATS restarts). */
const DECISION_POLL_MS = 250;

interface Running {
  release: number | null;
  modules: Record<string, ReleaseModule>;
}

class Member {
  readonly conn: ClusterConnection;
  readonly group: string;
  readonly name: string;
  readonly key: string;
  readonly out: string;
  readonly host = hostname();
  readonly since = Date.now();
  running: Running = { release: null, modules: {} };
  failed: { release: number; error: string; reason?: string } | undefined;
  closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** When the beat in flight began (a write can hang while NATS restarts: the next beat does not wait for it). */
  #beatStarted = 0;
  #watcher: { stop(): void } | undefined;
  readonly #seen = new Set<number>();
  /** Decisions awaited by prepared attempts (attempt → resolver). */
  readonly #waiting = new Map<number, { to: number; resolve: (d: Decision) => void }>();
  #catchUpQueued = false;
  readonly #releases = new Map<number, ReleaseRecord>();

  constructor(conn: ClusterConnection, name: string, key: string, out: string) {
    this.conn = conn;
    this.group = conn.group;
    this.name = name;
    this.key = key;
    this.out = out;
  }

  // ---- joining and leaving ---------------------------------------------------------------

  async join(): Promise<void> {
    await this.#checkName();
    // Before start resolves: the group's current release (S11.1).
    const first = await server.enqueue((change) => this.#catchUp(change, true));
    if (first !== undefined && typeof first === 'object' && 'error' in first) {
      const f = first as Refusal;
      throw new HotcodeError(
        f.error === 'stopped' ? 'stopped' : 'cluster_load',
        `start: could not load the current release of group '${this.group}': ${f.error}${f.reason ? ` (${f.reason})` : ''}`,
      );
    }
    await this.#beat();
    this.#timer = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.#timer.unref();
    await this.#watch();
    clusterEvents.emit('joined', { name: this.name, release: this.running.release });
  }

  async #checkName(): Promise<void> {
    const e = await this.conn.kv.get(keys.node(this.group, this.name));
    const p = e?.operation === 'PUT' ? decode<PresenceRecord>(e.value) : undefined;
    if (p === undefined || Date.now() - p.heartbeat > 3 * p.every) return;
    const sameProcessGone = p.host === this.host && p.pid !== process.pid && !pidAlive(p.pid);
    if (sameProcessGone || (p.host === this.host && p.pid === process.pid)) return;
    throw new HotcodeError(
      'name_taken',
      `start: node name '${this.name}' is taken in group '${this.group}' by pid ${p.pid} on ${p.host} (heartbeat ${Date.now() - p.heartbeat} ms ago); give this node another name`,
    );
  }

  async leave(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#watcher?.stop();
    for (const w of this.#waiting.values()) w.resolve('stopped');
    this.#waiting.clear();
    // A clean stop leaves the group at once; a killed node is dropped when its heartbeat goes stale.
    await this.conn.kv.delete(keys.node(this.group, this.name)).catch(() => {});
    await this.conn.close();
  }

  // ---- presence --------------------------------------------------------------------------

  presence(): PresenceRecord {
    const p: PresenceRecord = {
      name: this.name,
      host: this.host,
      pid: process.pid,
      release: this.running.release,
      heartbeat: Date.now(),
      every: HEARTBEAT_MS,
      since: this.since,
      inUse: inUse(),
    };
    if (this.failed) p.failed = this.failed;
    return p;
  }

  async #beat(): Promise<void> {
    if (this.closed || Date.now() - this.#beatStarted < HEARTBEAT_MS / 2) return;
    const started = Date.now();
    this.#beatStarted = started;
    try {
      await this.conn.kv.put(keys.node(this.group, this.name), encode(this.presence()));
      // A watch can miss entries while NATS restarts: read the control keys on every beat too (S11.3).
      const [cur, slot] = await Promise.all([
        this.conn.kv.get(keys.current(this.group)),
        this.conn.kv.get(keys.slot(this.group)),
      ]);
      const c = cur?.operation === 'PUT' ? decode<CurrentRecord>(cur.value) : undefined;
      const s = slot?.operation === 'PUT' ? decode<SlotRecord>(slot.value) : undefined;
      if (s) this.#onSlot(s);
      if (c) this.#onCurrent(c);
    } catch {
      // NATS is away: the next beat tries again.
    } finally {
      if (this.#beatStarted === started) this.#beatStarted = 0;
    }
  }

  /** Writes this node's presence now (after a switch: its release and the versions in use). */
  async #present(): Promise<void> {
    if (this.closed) return;
    await this.conn.kv
      .put(keys.node(this.group, this.name), encode(this.presence()))
      .catch(() => {});
  }

  /** Writes a key, again and again while NATS is away, until `until` (a vote, an ack). */
  async #put(key: string, value: unknown, until: number): Promise<void> {
    for (;;) {
      try {
        await this.conn.kv.put(key, encode(value));
        return;
      } catch (e) {
        if (this.closed || Date.now() > until) throw e;
        await sleep(200);
      }
    }
  }

  // ---- watching the group's keys ---------------------------------------------------------

  async #watch(): Promise<void> {
    const it = await this.conn.kv.watch({ key: keys.control(this.group) });
    this.#watcher = it;
    void (async () => {
      try {
        for await (const e of it) this.#onEntry(e);
      } catch {
        // stopped, or the connection closed
      }
    })();
  }

  #onEntry(e: KvEntry): void {
    if (this.closed || e.operation !== 'PUT') return;
    if (e.key === keys.current(this.group)) {
      const cur = decode<CurrentRecord>(e.value);
      if (cur) this.#onCurrent(cur);
    } else if (e.key === keys.slot(this.group)) {
      const slot = decode<SlotRecord>(e.value);
      if (slot) this.#onSlot(slot);
    }
  }

  #onCurrent(cur: CurrentRecord): void {
    for (const [attempt, w] of this.#waiting) {
      if (cur.attempt === attempt) w.resolve('commit');
      else if (cur.attempt > attempt) w.resolve('abort');
    }
    this.#converge(cur);
  }

  #onSlot(slot: SlotRecord): void {
    for (const [attempt, w] of this.#waiting) {
      if (slot.attempt === attempt && slot.phase === 'abort') w.resolve('abort');
      else if (slot.attempt > attempt) w.resolve('abort');
    }
    if (
      slot.phase === 'prepare' &&
      slot.nodes.includes(this.name) &&
      !this.#seen.has(slot.attempt) &&
      Date.now() < slot.deadline
    )
      this.#prepareAttempt(slot);
  }

  // ---- convergence: a node not on `current` catches up ----------------------------------

  #converge(cur: CurrentRecord): void {
    if (this.closed || this.#catchUpQueued) return;
    if (cur.release === this.running.release) return;
    if (this.failed?.release === cur.release) return;
    // A prepared attempt for this release finishes it itself.
    for (const w of this.#waiting.values()) if (w.to === cur.release) return;
    this.#catchUpQueued = true;
    void server.enqueue((change) => this.#catchUp(change, false)).catch(() => {});
  }

  /** Loads `current` if this node runs another release; one queued change. */
  async #catchUp(change: ChangeContext, atStart: boolean): Promise<Refusal | undefined> {
    this.#catchUpQueued = false;
    if (this.closed) return undefined;
    const entry = await this.#retry(
      () => this.conn.kv.get(keys.current(this.group)),
      Date.now() + 10_000,
    );
    const cur = entry?.operation === 'PUT' ? decode<CurrentRecord>(entry.value) : undefined;
    if (cur === undefined || cur.release === this.running.release) return undefined;
    if (!atStart && this.failed?.release === cur.release) return undefined;
    const to = await this.#release(cur.release);
    if (to === undefined)
      return this.#fail(cur.release, {
        error: 'fetch',
        reason: `release ${cur.release} is not in the bucket`,
      });
    const from =
      this.running.release === null ? undefined : await this.#release(this.running.release);
    // Only servers that run here can be migrated; at start none does.
    const specs = atStart
      ? []
      : specsBetween(from, to).filter((s) => processes.whereis(s.server) !== undefined);
    const p = await this.#prepare(to, `c${cur.attempt}`, specs, Date.now() + 10_000);
    if (!change.live()) {
      if (!('error' in p)) dropStaged(p);
      return { error: 'stopped', reason: 'the node stopped' };
    }
    if ('error' in p) return this.#fail(cur.release, p);
    const r = await this.#finish(p);
    if (r !== undefined) return this.#fail(cur.release, r);
    const at = Date.now();
    await this.#present();
    clusterEvents.emit('caught-up', { name: this.name, release: to.id, at });
    // It may have missed the decision of an attempt it voted in: acknowledge it now.
    try {
      const slot = decode<SlotRecord>((await this.conn.kv.get(keys.slot(this.group)))?.value);
      if (slot?.attempt === cur.attempt && slot.nodes.includes(this.name))
        await this.#ack(cur.attempt, { ok: true, release: to.id, switchedAt: at });
    } catch {
      // NATS is away; the deployer reads presence too
    }
    return undefined;
  }

  #fail(release: number, r: Refusal): Refusal {
    this.failed = { release, error: r.error, reason: r.reason };
    clusterEvents.emit('failed', { name: this.name, release, ...r });
    void this.#present();
    return r;
  }

  // ---- the two phases ----------------------------------------------------------------------

  #prepareAttempt(slot: SlotRecord): void {
    this.#seen.add(slot.attempt);
    let resolve!: (d: Decision) => void;
    const decided = new Promise<Decision>((r) => {
      resolve = r;
    });
    // Registered now, before the change runs: a decision that comes early is kept.
    this.#waiting.set(slot.attempt, { to: slot.to, resolve });
    void server
      .enqueue((change) => this.#attempt(change, slot, decided))
      .catch(() => {})
      .finally(() => this.#waiting.delete(slot.attempt));
  }

  /** One attempt, as one change: prepare, vote, wait, finish or drop. */
  async #attempt(
    change: ChangeContext,
    slot: SlotRecord,
    decided: Promise<Decision>,
  ): Promise<void> {
    const started = performance.now();
    const vote = async (v: Omit<VoteRecord, 'at' | 'preparedMs'>) => {
      const record: VoteRecord = {
        ...v,
        at: Date.now(),
        preparedMs: Math.round((performance.now() - started) * 100) / 100,
      };
      await this.#put(keys.vote(this.group, slot.attempt, this.name), record, slot.deadline);
      clusterEvents.emit('voted', { name: this.name, attempt: slot.attempt, ...record });
    };
    try {
      if (this.running.release === slot.to) {
        // Already there (it failed the release it rolls back from, or caught up early): nothing to do.
        await vote({ vote: 'yes' });
        const d = await this.#decision(slot, decided);
        if (d === 'commit')
          await this.#ack(slot.attempt, { ok: true, release: slot.to, switchedAt: Date.now() });
        return;
      }
      if (this.running.release !== slot.from) {
        await vote({
          vote: 'no',
          error: 'conflict',
          reason: `this node runs release ${this.running.release ?? 'none'}, the ${slot.kind} starts from ${slot.from ?? 'none'}`,
        });
        return;
      }
      const to = await this.#release(slot.to, slot.deadline);
      if (to === undefined) {
        await vote({
          vote: 'no',
          error: 'fetch',
          reason: `release ${slot.to} is not in the bucket`,
        });
        return;
      }
      const p = await this.#prepare(to, String(slot.attempt), slot.change, slot.deadline);
      if (!change.live()) {
        if (!('error' in p)) dropStaged(p);
        return;
      }
      if ('error' in p) {
        await vote({ vote: 'no', error: p.error, reason: p.reason });
        return;
      }
      await vote({ vote: 'yes' });
      const d = await this.#decision(slot, decided);
      if (d !== 'commit' || !change.live()) {
        dropStaged(p);
        clusterEvents.emit('dropped', { name: this.name, attempt: slot.attempt, decision: d });
        // Missed a commit (NATS away past the deadline)? The next beat converges on `current`.
        return;
      }
      const r = await this.#finish(p);
      if (r !== undefined) {
        this.#fail(slot.to, r);
        await this.#ack(slot.attempt, {
          ok: false,
          release: slot.to,
          switchedAt: Date.now(),
          error: r.error,
          reason: r.reason,
        });
        return;
      }
      const at = Date.now();
      // Presence first: once the deployer has every acknowledgement, it sees what runs where.
      await this.#present();
      await this.#ack(slot.attempt, { ok: true, release: slot.to, switchedAt: at });
    } catch (e) {
      // NATS went away mid-attempt: what was prepared is dropped; convergence takes over.
      clusterEvents.emit('dropped', {
        name: this.name,
        attempt: slot.attempt,
        decision: 'error',
        reason: describe(e),
      });
    }
  }

  /** Waits for the decision of an attempt, reading the keys too, until its deadline (and a grace). */
  async #decision(slot: SlotRecord, decided: Promise<Decision>): Promise<Decision> {
    const until = slot.deadline + DECISION_GRACE_MS;
    let result: Decision | undefined;
    void decided.then((d) => {
      result = d;
    });
    while (result === undefined) {
      const left = until - Date.now();
      if (left <= 0) break;
      await Promise.race([decided, sleep(Math.min(DECISION_POLL_MS, left))]);
      if (result !== undefined) break;
      try {
        const cur = decode<CurrentRecord>(
          (await this.conn.kv.get(keys.current(this.group)))?.value,
        );
        if (cur?.attempt === slot.attempt) return 'commit';
        const s = decode<SlotRecord>((await this.conn.kv.get(keys.slot(this.group)))?.value);
        if (s && (s.attempt > slot.attempt || (s.attempt === slot.attempt && s.phase === 'abort')))
          return 'abort';
      } catch {
        // NATS is away: wait on
      }
    }
    return result ?? 'timeout';
  }

  async #ack(attempt: number, a: AckRecord): Promise<void> {
    await this.#put(keys.ack(this.group, attempt, this.name), a, Date.now() + 30_000);
    clusterEvents.emit('switched', { name: this.name, attempt, ...a });
  }

  // ---- fetching, preparing, finishing ----------------------------------------------------

  /** Runs a read again and again while NATS is away (a restart), until `until`. */
  async #retry<T>(fn: () => Promise<T>, until: number): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (this.closed || Date.now() > until) throw e;
        await sleep(200);
      }
    }
  }

  async #release(id: number, until = Date.now() + 10_000): Promise<ReleaseRecord | undefined> {
    const known = this.#releases.get(id);
    if (known) return known;
    const e = await this.#retry(() => this.conn.kv.get(keys.release(this.group, id)), until);
    const r = e?.operation === 'PUT' ? decode<ReleaseRecord>(e.value) : undefined;
    if (r) this.#releases.set(id, r);
    return r;
  }

  /** The bytes of one object file, verified by its hash (from `out` when it already holds them). */
  async #object(module: string, m: ReleaseModule, until: number): Promise<string | Refusal> {
    const file = join(this.out, `${module}.js`);
    if (existsSync(file)) {
      try {
        const local = readFileSync(file);
        if (sha256(local) === m.hash) return local.toString('utf8');
      } catch {
        // fetch it
      }
    }
    let bytes: Uint8Array | Error | null;
    try {
      bytes = await this.#retry(async (): Promise<Uint8Array | Error | null> => {
        try {
          return await this.conn.os.getBlob(m.hash);
        } catch (e) {
          // The store's own digest check: damaged chunks are not worth another try.
          if (/digest/i.test(describe(e))) return e as Error;
          throw e;
        }
      }, until);
    } catch (e) {
      return { error: 'fetch', reason: `could not fetch ${module}: ${describe(e)}` };
    }
    if (bytes instanceof Error)
      return {
        error: 'hash',
        reason: `the store's copy of ${module} (${m.hash.slice(0, 12)}…) is damaged: ${describe(bytes)}`,
      };
    if (bytes === null)
      return {
        error: 'fetch',
        reason: `object ${m.hash.slice(0, 12)} of ${module} is not in the store`,
      };
    const got = sha256(bytes);
    if (got !== m.hash)
      return {
        error: 'hash',
        reason: `object of ${module} should have SHA-256 ${m.hash.slice(0, 12)}…, the bytes fetched have ${got.slice(0, 12)}…: refused`,
      };
    return Buffer.from(bytes).toString('utf8');
  }

  /** Phase one on this node: fetch, verify, prepare, stage. Loads nothing. */
  async #prepare(
    to: ReleaseRecord,
    tag: string,
    specs: ChangeSpec[],
    until: number,
  ): Promise<Prepared | Refusal> {
    currentNode('cluster');
    const changing = Object.entries(to.modules).filter(
      ([m, r]) =>
        this.running.modules[m]?.hash !== r.hash || server.versions(m).current?.md5 !== r.md5,
    );
    // A module changed on this node by hand, outside the cluster: never overwrite it silently.
    const moved = changing
      .filter(([m]) => {
        const mine = this.running.modules[m];
        const loaded = server.versions(m).current?.md5;
        return mine !== undefined && loaded !== undefined && loaded !== mine.md5;
      })
      .map(([m]) => m);
    if (moved.length)
      return {
        error: 'conflict',
        reason: `${moved.join(', ')} changed on this node outside the cluster (the loaded version is not release ${this.running.release}'s)`,
      };
    const texts = await Promise.all(changing.map(([m, r]) => this.#object(m, r, until)));
    const refused = texts.find((t): t is Refusal => typeof t !== 'string');
    if (refused) return refused;
    const items = changing.map(([m], i) => ({
      module: m,
      file: join(this.out, `${m}.js`),
      text: texts[i] as string,
    }));
    let prepared: PreparedCode | undefined;
    if (items.length) {
      const r = server.prepareBinaries(items);
      if ('error' in r)
        return {
          error: r.error[0]!.error,
          reason: r.error
            .map(
              (e) =>
                `${e.module}: ${e.error}${(e as { reason?: unknown }).reason !== undefined ? ` (${describe((e as { reason?: unknown }).reason)})` : ''}`,
            )
            .join('; '),
        };
      prepared = r.prepared;
    }
    if (specs.length) {
      // What a release upgrade (S8.4) would refuse, refused now, before anyone switches.
      const missing = specs.filter((s) => processes.whereis(s.server) === undefined);
      if (missing.length)
        return {
          error: 'noproc',
          reason: `no server ${missing.map((s) => s.server).join(', ')} runs on this node`,
        };
      const inOld = items
        .map((i) => i.module)
        .filter((m) => processes.processes().some((p) => server.checkProcessCode(p, m)));
      if (inOld.length)
        return {
          error: 'not_purged',
          reason: `processes still run old code of ${inOld.join(', ')} on this node`,
        };
    }
    const staged: Prepared['staged'] = [];
    try {
      for (const it of items) {
        const tmp = `${it.file}.release-${tag}.${process.pid}.tmp`;
        writeFileSync(tmp, it.text);
        staged.push({ tmp, file: it.file });
      }
    } catch (e) {
      for (const s of staged) rmSync(s.tmp, { force: true });
      return { error: 'write', reason: describe(e) };
    }
    return { to, items, prepared, staged, specs };
  }

  /** Phase two on this node: the staged files into `out`, the code installed (or upgraded). */
  async #finish(p: Prepared): Promise<Refusal | undefined> {
    const names = p.items.map((i) => i.module);
    const upgrading = p.specs.length > 0 && names.length > 0;
    const done = recordClusterChange(upgrading ? 'upgrade' : 'deploy', names);
    // The files they replace, put back if the switch fails.
    const previous = p.staged.map((s) => ({
      file: s.file,
      text: existsSync(s.file) ? readFileSync(s.file) : undefined,
    }));
    const restore = () => {
      for (const f of previous) {
        try {
          if (f.text === undefined) rmSync(f.file, { force: true });
          else writeFileSync(f.file, f.text);
        } catch {
          // best effort: a later release or restart rewrites it
        }
      }
    };
    try {
      for (const s of p.staged) renameSync(s.tmp, s.file);
    } catch (e) {
      dropStaged(p);
      restore();
      done({ error: 'write' });
      return { error: 'write', reason: describe(e) };
    }
    if (upgrading) {
      const upgrade = server.cellOf('release').v.upgrade as UpgradeFn;
      const r = await upgrade({ load: names, change: p.specs });
      done(r);
      if (!('ok' in r)) {
        restore();
        const f = r as { error: string; module?: string; server?: unknown; reason?: unknown };
        const what = f.module ?? (f.server !== undefined ? String(f.server) : undefined);
        return {
          error: f.error,
          reason: `${what !== undefined ? `${what}: ` : ''}${f.reason !== undefined ? describe(f.reason) : f.error}; rolled back on this node`,
        };
      }
    } else if (p.prepared !== undefined) {
      const r = server.finishWithPurge(p.prepared);
      done(r);
      if ('error' in r) {
        restore();
        const e = r.error[0]!;
        return {
          error: e.error,
          reason: `${e.module}${(e as { reason?: unknown }).reason !== undefined ? `: ${describe((e as { reason?: unknown }).reason)}` : ''}`,
        };
      }
    } else done({});
    this.running = { release: p.to.id, modules: p.to.modules };
    this.failed = undefined;
    return undefined;
  }
}

function dropStaged(p: Prepared): void {
  for (const s of p.staged) rmSync(s.tmp, { force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The versions processes use on this node, for a deploying side's transition check (S6.2). */
function inUse(): InUseVersion[] {
  const out: InUseVersion[] = [];
  for (const v of server.loadedVersions()) {
    if (v.users.length === 0) continue;
    const entry: InUseVersion = {
      module: v.module,
      version: v.version,
      number: v.number,
      md5: v.md5,
      users: v.users.slice(0, 20).map(String),
    };
    if (v.version === 'old' && v.source) entry.source = v.source;
    out.push(entry);
  }
  return out;
}

// ---- the node's membership (one per process, as the node) ----------------------------------

let member: Member | undefined;
/** The options it joined with (start with the same options does nothing, S0.1). */
let joinedWith: string | undefined;

function optionsKey(
  cluster: ClusterOptions | undefined,
  name: string | undefined,
): string | undefined {
  return cluster === undefined ? undefined : JSON.stringify([cluster, name ?? null]);
}

/**
 * `start({ …, name, cluster })` (S11.1): joins the group, loading its current
 * release before it resolves. `wasStarted`: the node was running before this
 * start (then the options must be the ones it joined with).
 */
export async function joinCluster(
  cluster: ClusterOptions | undefined,
  name: string | undefined,
  wasStarted: boolean,
): Promise<void> {
  const key = optionsKey(cluster, name);
  if (wasStarted) {
    if (key === joinedWith) return;
    throw new HotcodeError(
      'already_started',
      'start: a node is already running with other cluster options; await stop() first (one node per process)',
    );
  }
  if (cluster === undefined) return;
  const opts = checkClusterOptions(cluster, 'start');
  const nodeName = checkNodeName(name ?? `${hostname()}-${process.pid}`, 'start');
  const n = currentNode('start');
  const conn = await openCluster(opts, 'start', `hotcode node ${nodeName}`, 2000);
  const m = new Member(conn, nodeName, key!, n.options.out);
  member = m;
  joinedWith = key;
  try {
    await m.join();
  } catch (e) {
    member = undefined;
    joinedWith = undefined;
    await m.leave();
    throw e;
  }
}

/** `stop()`: leaves the group (its presence is removed), before the node itself stops. */
export async function leaveCluster(): Promise<void> {
  const m = member;
  member = undefined;
  joinedWith = undefined;
  await m?.leave();
}

/** This node's place in its group, or undefined when it is in none. */
export function clusterState():
  | {
      group: string;
      name: string;
      release: number | null;
      failed?: { release: number; error: string };
    }
  | undefined {
  if (!member) return undefined;
  return {
    group: member.group,
    name: member.name,
    release: member.running.release,
    ...(member.failed ? { failed: member.failed } : {}),
  };
}
