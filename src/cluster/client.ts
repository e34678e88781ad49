/**
 * The deploying side of a cluster (S11.2): `connectCluster({ servers, group })`
 * → `deploy`, `rollback`, `nodes`, `close`.
 *
 * A deploy compiles and type-checks HERE (transitions included) against the
 * group's current release — the sources recorded in its object files, which
 * the object store holds — and the versions the nodes report their processes
 * use; uploads the object files (named by SHA-256); and drives the two phases
 * through the key-value bucket: claim the deploy slot (compare-and-swap),
 * write the release, ask every live node to prepare and vote before the
 * deadline, then move `current` from the parent to the new release by
 * compare-and-swap (commit) or abort; then collect every node's
 * acknowledgement. The protocol is in protocol.ts and docs/cluster.md.
 */
import { readdirSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KvEntry } from '@nats-io/kv';
import { parseObjectFile, sourceOf } from '../code/objectFile.js';
import type { SystemVersion } from '../compiler/check.js';
import { planDeploy } from '../compiler/plan.js';
import { createTypeGate, type TypeGate } from '../compiler/typegate/index.js';
import { HotcodeError } from '../errors.js';
import type { ClusterOptions, Diagnostic, OldUsers } from '../types.js';
import { describe, isModuleName, moduleOfSourceFile } from '../vocabulary.js';
import { type ClusterConnection, isCasFailure, natsError, openCluster } from './connection.js';
import {
  type AckRecord,
  type ChangeSpec,
  type CurrentRecord,
  DEFAULT_TIMEOUT_MS,
  decode,
  encode,
  isLive,
  KV_BUCKET,
  keys,
  nodeOfKey,
  type PresenceRecord,
  type ReleaseModule,
  type ReleaseRecord,
  type SlotRecord,
  sha256,
  specsBetween,
  storeDigest,
  type VoteRecord,
} from './protocol.js';

export type { ChangeSpec };

/** Options of a cluster deploy (S11.2). */
export interface ClusterDeployOptions {
  /** Source directories (default `['src']`, relative to `root`). */
  src?: string | string[];
  /** The project root: where tsconfig.json is (default the working directory). */
  root?: string;
  /** Type-check here before anything is uploaded (default true). */
  typecheck?: boolean;
  /** Deadline of each phase in milliseconds (default 10,000). */
  timeoutMs?: number;
  /** Go on without the nodes that die or do not vote in time (they catch up when they come back). */
  allowMissing?: boolean;
  /** Servers to migrate with codeChange as nodes switch: a release upgrade (S8.4). */
  change?: ChangeSpec[];
  /** Who deploys (default `user@host`). */
  by?: string;
  /**
   * Called at each step, and awaited before the next one (progress output,
   * or a tool that must act between two phases).
   */
  onPhase?: (event: ClusterPhaseEvent) => void | Promise<void>;
}

export type ClusterRollbackOptions = Pick<
  ClusterDeployOptions,
  'timeoutMs' | 'allowMissing' | 'by' | 'onPhase'
>;

export type ClusterPhaseEvent =
  | { phase: 'planned'; modules: string[] }
  | { phase: 'uploaded'; release: number; objects: { module: string; hash: string }[] }
  | { phase: 'prepare'; attempt: number; release: number; nodes: string[]; deadline: number }
  | { phase: 'vote'; node: string; vote: 'yes' | 'no' | 'missing'; error?: string; reason?: string }
  | { phase: 'commit'; release: number }
  | { phase: 'abort'; release: number; reason: string }
  | { phase: 'ack'; node: string; ok: boolean; switchedAt: number };

/** What happened on one node. */
export interface ClusterNodeOutcome {
  name: string;
  result: 'switched' | 'unchanged' | 'refused' | 'missing' | 'failed' | 'unconfirmed' | 'dropped';
  error?: string;
  reason?: string;
  preparedMs?: number;
  /** When its new code became current (ms since the epoch, its clock). */
  switchedAt?: number;
}

export interface ClusterDeployOk {
  ok: true;
  kind: 'deploy' | 'rollback';
  release: number;
  /** The release the group ran before. */
  from: number | null;
  /** The modules that changed. */
  modules: string[];
  nodes: ClusterNodeOutcome[];
  /** Nodes it went on without (`allowMissing`): they catch up when they come back. */
  missing: string[];
  /** Between the first and the last node's switch. */
  switchedWithinMs: number;
  /** From the call to the last acknowledgement. */
  elapsedMs: number;
  warnings: Diagnostic[];
}

export type ClusterDeployError =
  | { error: 'compile'; message: string; diagnostics: Diagnostic[]; oldUsers?: OldUsers[] }
  | { error: 'nofile'; message: string; module: string }
  | { error: 'empty'; message: string }
  | { error: 'unchanged'; message: string; release: number | null }
  | { error: 'conflict'; message: string }
  | { error: 'no_parent'; message: string }
  | {
      error: 'aborted';
      message: string;
      release: number;
      nodes: ClusterNodeOutcome[];
    }
  | {
      error: 'failed';
      message: string;
      release: number;
      nodes: ClusterNodeOutcome[];
      /** Whether the group was moved back to the parent release. */
      rolledBack: boolean;
    };

export type ClusterDeployResult = ClusterDeployOk | ClusterDeployError;

/** One node as `nodes()` lists it. */
export interface ClusterNodeInfo {
  name: string;
  host: string;
  pid: number;
  release: number | null;
  /** Heartbeat within the last 3 periods. */
  live: boolean;
  heartbeatAgeMs: number;
  since: number;
  failed?: { release: number; error: string; reason?: string };
}

/** The group's current release. */
export interface ClusterRelease {
  release: number;
  parent: number | null;
  modules: Record<string, { vsn: string; hash: string }>;
  change: ChangeSpec[];
  by: string;
  at: number;
}

export interface ClusterClient {
  readonly group: string;
  deploy(modules?: string | string[], options?: ClusterDeployOptions): Promise<ClusterDeployResult>;
  rollback(options?: ClusterRollbackOptions): Promise<ClusterDeployResult>;
  nodes(): Promise<ClusterNodeInfo[]>;
  current(): Promise<ClusterRelease | undefined>;
  close(): Promise<void>;
}

/** A slot older than its deadline by this much is abandoned: a deploy may take it over. */
const SLOT_GRACE_MS = 3000;

function defaultBy(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return hostname();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir).flatMap((f) => {
      const m = moduleOfSourceFile(f);
      return m === undefined ? [] : [m];
    });
  } catch {
    return [];
  }
}

function checkSpecs(change: unknown, what: string): ChangeSpec[] {
  if (change === undefined) return [];
  if (!Array.isArray(change))
    throw new HotcodeError(
      'badarg',
      `${what}: change must be a list of { server, module, extra? }`,
    );
  return change.map((c: unknown) => {
    const s = c as ChangeSpec | null;
    if (!s || typeof s.server !== 'string' || s.server === '' || !isModuleName(s.module))
      throw new HotcodeError(
        'badarg',
        `${what}: each change is { server: a registered name, module: a module name, extra? } (got ${describe(c)})`,
      );
    return s.extra === undefined
      ? { server: s.server, module: s.module }
      : { server: s.server, module: s.module, extra: s.extra };
  });
}

/** A collected answer of one node in one attempt. */
interface Answer {
  vote?: VoteRecord;
  ack?: AckRecord;
  missing?: string;
}

class Client implements ClusterClient {
  readonly group: string;
  readonly #conn: ClusterConnection;
  #gate: { key: string; gate: TypeGate } | undefined;
  readonly #objects = new Map<string, string>();
  #busy = false;

  constructor(conn: ClusterConnection) {
    this.#conn = conn;
    this.group = conn.group;
  }

  get #kv() {
    return this.#conn.kv;
  }

  #jsm: Promise<JetStreamManager> | undefined;
  /** JetStream's management API (stream info and purge), made once. */
  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= import('@nats-io/jetstream')
      .then(({ jetstreamManager }) => jetstreamManager(this.#conn.nc, { checkAPI: false }))
      .catch((e: unknown) => {
        this.#jsm = undefined;
        throw e;
      });
    return this.#jsm;
  }

  // ---- reading the group ------------------------------------------------------------------

  async #get<T>(key: string): Promise<{ value: T; revision: number } | undefined> {
    const e = await this.#kv.get(key);
    if (!e || e.operation !== 'PUT') return undefined;
    const value = decode<T>(e.value);
    return value === undefined ? undefined : { value, revision: e.revision };
  }

  async #release(id: number): Promise<ReleaseRecord | undefined> {
    return (await this.#get<ReleaseRecord>(keys.release(this.group, id)))?.value;
  }

  async #presences(): Promise<PresenceRecord[]> {
    // The stream's own list of subjects, in one request. Not `kv.keys()`: its consumer
    // ends only when it sees no pending message or 5 s of silence, and the nodes'
    // heartbeats rewrite these very keys every second — it could list for ever.
    const jsm = await this.#manager();
    const prefix = `$KV.${KV_BUCKET}.`;
    const info = await jsm.streams.info(`KV_${KV_BUCKET}`, {
      subjects_filter: `${prefix}${keys.nodes(this.group)}`,
    });
    const names = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
    const all = await Promise.all(names.map((k) => this.#get<PresenceRecord>(k)));
    return all.flatMap((p) => (p ? [p.value] : []));
  }

  async #liveNodes(): Promise<PresenceRecord[]> {
    const now = Date.now();
    return (await this.#presences()).filter((p) => isLive(p, now));
  }

  async nodes(): Promise<ClusterNodeInfo[]> {
    return this.#call('nodes', async () => {
      const now = Date.now();
      return (await this.#presences())
        .map((p) => {
          const n: ClusterNodeInfo = {
            name: p.name,
            host: p.host,
            pid: p.pid,
            release: p.release,
            live: isLive(p, now),
            heartbeatAgeMs: Math.max(0, now - p.heartbeat),
            since: p.since,
          };
          if (p.failed) n.failed = p.failed;
          return n;
        })
        .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    });
  }

  async current(): Promise<ClusterRelease | undefined> {
    return this.#call('current', async () => {
      const cur = await this.#get<CurrentRecord>(keys.current(this.group));
      if (!cur) return undefined;
      const r = await this.#release(cur.value.release);
      if (!r) return undefined;
      const modules: ClusterRelease['modules'] = {};
      for (const [m, x] of Object.entries(r.modules)) modules[m] = { vsn: x.vsn, hash: x.hash };
      return { release: r.id, parent: r.parent, modules, change: r.change, by: r.by, at: r.at };
    });
  }

  /** Runs one operation of the API, mapping a lost connection to `nodedown`. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#conn.nc.isClosed())
      throw new HotcodeError('nodedown', `${what}: the cluster connection is closed`);
    try {
      return await fn();
    } catch (e) {
      if (e instanceof HotcodeError) throw e;
      throw natsError(e, this.#conn.url, what);
    }
  }

  /** The bytes of an object file from the store, verified by its hash. */
  async #object(module: string, m: ReleaseModule): Promise<string> {
    const known = this.#objects.get(m.hash);
    if (known !== undefined) return known;
    const bytes = await this.#conn.os.getBlob(m.hash);
    if (bytes === null || sha256(bytes) !== m.hash)
      throw new HotcodeError(
        'hash',
        `the object file of ${module} in the current release (${m.hash.slice(0, 12)}…) is ${bytes === null ? 'missing from' : 'damaged in'} the object store; deploy ${module} again by name`,
      );
    const text = Buffer.from(bytes).toString('utf8');
    this.#objects.set(m.hash, text);
    return text;
  }

  /**
   * The running system as a type check sees it (S6.2, S9.4): the current
   * release's modules with their recorded sources, and the versions the
   * nodes' processes use (pids printed as `<0.85.0>@node`).
   */
  async #system(
    rel: ReleaseRecord | undefined,
    nodes: PresenceRecord[],
  ): Promise<SystemVersion<string>[]> {
    const out: SystemVersion<string>[] = [];
    const users = (module: string, version: 'current' | 'old', md5: string) => {
      const pids: string[] = [];
      let number: number | undefined;
      for (const n of nodes)
        for (const v of n.inUse ?? [])
          if (v.module === module && v.version === version && v.md5 === md5) {
            pids.push(...v.users.map((p) => `${p}@${n.name}`));
            number ??= v.number;
          }
      return { pids, number };
    };
    for (const [m, r] of Object.entries(rel?.modules ?? {})) {
      // A lost or damaged object of the running release: check against the disk instead
      // (deploying the module by name replaces it).
      const text = await this.#object(m, r).catch(() => undefined);
      if (text === undefined) continue;
      const parsed = parseObjectFile(text, m);
      const source =
        typeof parsed === 'string'
          ? undefined
          : ((t) => (t === undefined ? undefined : { file: parsed.header.source, text: t }))(
              sourceOf(parsed),
            );
      const u = users(m, 'current', r.md5);
      out.push({
        module: m,
        version: 'current',
        number: u.number ?? 1,
        md5: r.md5,
        source,
        users: u.pids,
      });
    }
    const olds = new Map<string, SystemVersion<string>>();
    for (const n of nodes)
      for (const v of n.inUse ?? []) {
        if (v.version !== 'old' || v.source === undefined) continue;
        const k = `${v.module}#${v.md5}`;
        const have = olds.get(k);
        const pids = v.users.map((p) => `${p}@${n.name}`);
        if (have) have.users.push(...pids);
        else
          olds.set(k, {
            module: v.module,
            version: 'old',
            number: v.number,
            md5: v.md5,
            source: v.source,
            users: pids,
          });
      }
    out.push(...olds.values());
    return out;
  }

  #gateFor(root: string, srcDirs: string[]): TypeGate {
    const key = JSON.stringify([root, srcDirs]);
    if (this.#gate?.key !== key) {
      void this.#gate?.gate.close();
      this.#gate = { key, gate: createTypeGate({ root, srcDirs }) };
    }
    return this.#gate.gate;
  }

  // ---- deploy and rollback ------------------------------------------------------------------

  async deploy(
    modules?: string | string[],
    options: ClusterDeployOptions = {},
  ): Promise<ClusterDeployResult> {
    const names = modules === undefined ? [] : Array.isArray(modules) ? modules : [modules];
    for (const m of names)
      if (!isModuleName(m))
        throw new HotcodeError('badarg', `deploy: '${String(m)}' is not a module name`);
    if (options === null || typeof options !== 'object')
      throw new HotcodeError('badarg', 'deploy: options must be an object');
    const specs = checkSpecs(options.change, 'deploy');
    const timeoutMs = checkTimeout(options.timeoutMs, 'deploy');
    const root = resolve(options.root ?? process.cwd());
    const srcDirs = (
      options.src === undefined ? ['src'] : Array.isArray(options.src) ? options.src : [options.src]
    ).map((d) => resolve(root, d));
    return this.#exclusive('deploy', async () => {
      const t0 = performance.now();
      const by = options.by ?? defaultBy();
      const gate = options.typecheck === false ? undefined : this.#gateFor(root, srcDirs);
      // TypeScript starts (~1.5 s cold) while the group is read.
      void gate?.warm();
      const cur = await this.#get<CurrentRecord>(keys.current(this.group));
      const parent = cur ? await this.#release(cur.value.release) : undefined;
      const live = await this.#liveNodes();
      if (live.length === 0) return this.#empty();
      const system = await this.#system(parent, live);
      const planned = await planDeploy({
        srcDirs,
        ...(names.length ? { modules: names } : { sourceModules: srcDirs.flatMap(namesIn) }),
        system,
        gate,
      });
      if (!planned.ok) {
        if (planned.error === 'nofile')
          return {
            error: 'nofile',
            module: planned.module,
            message: `no source for ${planned.module} in ${srcDirs.join(', ')}; nothing was uploaded`,
          };
        const r: ClusterDeployError = {
          error: 'compile',
          diagnostics: planned.diagnostics,
          message: `${planned.diagnostics.filter((d) => d.category === 'error').length} error(s); nothing was uploaded, no node changed`,
        };
        if (planned.oldUsers) r.oldUsers = planned.oldUsers as unknown as OldUsers[];
        return r;
      }
      const plan = planned.plan;
      if (plan.objects.length === 0)
        return {
          error: 'unchanged',
          release: cur?.value.release ?? null,
          message: `nothing to deploy: every module's source is the one release ${cur?.value.release ?? '(none)'} runs`,
        };
      const changed = plan.objects.map((o) => o.module);
      for (const s of specs)
        if (!changed.includes(s.module))
          throw new HotcodeError(
            'badarg',
            `deploy: change ${s.server}:${s.module} names a module this deploy does not change (${changed.join(', ')})`,
          );
      await options.onPhase?.({ phase: 'planned', modules: changed });

      const claim = await this.#claim('deploy', cur, by, timeoutMs, (next) => ({
        from: cur?.value.release ?? null,
        to: next,
        change: specs,
      }));
      if ('error' in claim) return claim;
      const id = claim.slot.to;
      // Upload what the store lacks (objects are named by content, so one upload serves every node).
      const mods: Record<string, ReleaseModule> = { ...(parent?.modules ?? {}) };
      const uploaded: { module: string; hash: string }[] = [];
      await Promise.all(
        plan.objects.map(async (o) => {
          const bytes = Buffer.from(o.text, 'utf8');
          const hash = sha256(bytes);
          const info = await this.#conn.os.info(hash);
          if (info === null || info.deleted || info.digest !== storeDigest(bytes))
            await this.#conn.os.putBlob({ name: hash, description: o.module }, bytes);
          const parsed = parseObjectFile(o.text, o.module);
          mods[o.module] = {
            hash,
            md5: o.md5,
            vsn: typeof parsed === 'string' ? o.md5 : parsed.header.vsn,
            size: bytes.length,
          };
          uploaded.push({ module: o.module, hash });
        }),
      );
      const release: ReleaseRecord = {
        id,
        parent: cur?.value.release ?? null,
        modules: mods,
        changed,
        change: specs,
        by,
        at: Date.now(),
      };
      try {
        await this.#kv.create(keys.release(this.group, id), encode(release));
      } catch (e) {
        if (!isCasFailure(e)) throw e;
        await this.#abort(claim, `release ${id} exists already`);
        return { error: 'conflict', message: `release ${id} exists already: deploy again` };
      }
      await options.onPhase?.({ phase: 'uploaded', release: id, objects: uploaded });
      const r = await this.#run(claim, cur, release, timeoutMs, options, t0);
      if ('ok' in r) r.warnings = plan.warnings;
      return r;
    });
  }

  async rollback(options: ClusterRollbackOptions = {}): Promise<ClusterDeployResult> {
    if (options === null || typeof options !== 'object')
      throw new HotcodeError('badarg', 'rollback: options must be an object');
    const timeoutMs = checkTimeout(options.timeoutMs, 'rollback');
    return this.#exclusive('rollback', async () => {
      const t0 = performance.now();
      const by = options.by ?? defaultBy();
      const cur = await this.#get<CurrentRecord>(keys.current(this.group));
      if (!cur)
        return {
          error: 'no_parent',
          message: `group '${this.group}' has no release yet: nothing to roll back`,
        };
      const from = await this.#release(cur.value.release);
      if (from?.parent === null || from === undefined)
        return {
          error: 'no_parent',
          message: `release ${cur.value.release} is the group's first: there is no parent to roll back to`,
        };
      if ((await this.#liveNodes()).length === 0) return this.#empty();
      return this.#rollbackFrom(from, from.parent, cur, by, timeoutMs, options, t0);
    });
  }

  /** Current `from` back to its parent, in the same two phases as a deploy. */
  async #rollbackFrom(
    from: ReleaseRecord,
    parent: number,
    cur: { value: CurrentRecord; revision: number },
    by: string,
    timeoutMs: number,
    options: ClusterRollbackOptions,
    t0: number,
  ): Promise<ClusterDeployResult> {
    const to = await this.#release(parent);
    if (!to) return { error: 'no_parent', message: `release ${parent} is not in the bucket` };
    const claim = await this.#claim('rollback', cur, by, timeoutMs, () => ({
      from: from.id,
      to: to.id,
      change: specsBetween(from, to),
    }));
    if ('error' in claim) return claim;
    return this.#run(claim, cur, to, timeoutMs, options, t0, from);
  }

  async #exclusive(
    what: string,
    fn: () => Promise<ClusterDeployResult>,
  ): Promise<ClusterDeployResult> {
    if (this.#busy)
      return {
        error: 'conflict',
        message: `${what}: this client is already deploying; one at a time per client`,
      };
    this.#busy = true;
    try {
      return await this.#call(what, fn);
    } finally {
      this.#busy = false;
    }
  }

  #empty(): ClusterDeployError {
    return {
      error: 'empty',
      message: `group '${this.group}' has no live nodes on ${this.#conn.url}: start nodes with start({ cluster: { servers, group: '${this.group}' } }) (or "cluster" in hotcode.config.json) first`,
    };
  }

  /**
   * Claims the deploy slot by compare-and-swap: one deploy per group at a
   * time; a second one gets `conflict` and changes nothing. Then checks that
   * `current` is still the one the change was planned against.
   */
  async #claim(
    kind: SlotRecord['kind'],
    cur: { value: CurrentRecord; revision: number } | undefined,
    by: string,
    timeoutMs: number,
    target: (release: number) => Pick<SlotRecord, 'from' | 'to' | 'change'>,
  ): Promise<{ slot: SlotRecord; revision: number } | ClusterDeployError> {
    const entry = await this.#kv.get(keys.slot(this.group));
    const prev = entry?.operation === 'PUT' ? decode<SlotRecord>(entry.value) : undefined;
    const now = Date.now();
    if (
      prev &&
      (prev.phase === 'claimed' || prev.phase === 'prepare') &&
      now < prev.deadline + SLOT_GRACE_MS
    )
      return {
        error: 'conflict',
        message: `${prev.kind} of release ${prev.to} by ${prev.by} is in progress (${prev.phase} phase, deadline in ${Math.max(0, Math.round((prev.deadline - now) / 100) / 10)} s); nothing changed`,
      };
    const attempt = Math.max(prev?.attempt ?? 0, cur?.value.attempt ?? 0) + 1;
    // Release ids count deploys (an aborted one leaves a gap); attempts count deploys and rollbacks.
    const next = Math.max(prev?.lastRelease ?? 0, cur?.value.release ?? 0) + 1;
    const t = target(next);
    const slot: SlotRecord = {
      attempt,
      kind,
      ...t,
      lastRelease: kind === 'deploy' ? t.to : (prev?.lastRelease ?? cur?.value.release ?? 0),
      by,
      at: now,
      deadline: now + timeoutMs,
      phase: 'claimed',
      nodes: [],
    };
    let revision: number;
    try {
      revision =
        entry === null || entry.operation !== 'PUT'
          ? await this.#kv.create(keys.slot(this.group), encode(slot))
          : await this.#kv.update(keys.slot(this.group), encode(slot), entry.revision);
    } catch (e) {
      if (!isCasFailure(e)) throw e;
      const other = decode<SlotRecord>((await this.#kv.get(keys.slot(this.group)))?.value);
      return {
        error: 'conflict',
        message: `another deploy claimed group '${this.group}' first${other ? ` (${other.kind} of release ${other.to} by ${other.by})` : ''}; nothing changed`,
      };
    }
    const now2 = await this.#get<CurrentRecord>(keys.current(this.group));
    if ((now2?.revision ?? 0) !== (cur?.revision ?? 0)) {
      await this.#abort({ slot, revision }, 'current moved meanwhile');
      return {
        error: 'conflict',
        message: `release ${now2?.value.release} became current while this ${kind} was being planned; nothing changed (plan again)`,
      };
    }
    // Votes and acknowledgements of old attempts are no longer needed.
    void this.#forget(attempt - 2);
    return { slot, revision };
  }

  async #forget(attempt: number): Promise<void> {
    if (attempt < 1) return;
    try {
      const jsm = await this.#manager();
      for (const k of [keys.votes(this.group, attempt), keys.acks(this.group, attempt)])
        await jsm.streams.purge(`KV_${KV_BUCKET}`, {
          filter: `$KV.${KV_BUCKET}.${k.slice(0, -1)}>`,
        });
    } catch {
      // housekeeping only
    }
  }

  async #abort(claim: { slot: SlotRecord; revision: number }, reason: string): Promise<void> {
    const slot: SlotRecord = { ...claim.slot, phase: 'abort', reason };
    try {
      claim.revision = await this.#kv.update(keys.slot(this.group), encode(slot), claim.revision);
      claim.slot = slot;
    } catch {
      // Taken over meanwhile: that deploy fenced this one already.
    }
  }

  /** The two phases of one attempt, then the acknowledgements. */
  async #run(
    claim: { slot: SlotRecord; revision: number },
    cur: { value: CurrentRecord; revision: number } | undefined,
    to: ReleaseRecord,
    timeoutMs: number,
    options: ClusterDeployOptions,
    t0: number,
    rollingBackFrom?: ReleaseRecord,
  ): Promise<ClusterDeployResult> {
    const attempt = claim.slot.attempt;
    const kind = claim.slot.kind;
    const participants = [...new Set((await this.#liveNodes()).map((p) => p.name))].sort();
    if (participants.length === 0) {
      await this.#abort(claim, 'no live nodes');
      return this.#empty();
    }
    const answers = new Map<string, Answer>(participants.map((n) => [n, {}]));
    const votes = await this.#kv.watch({ key: keys.votes(this.group, attempt) });
    const acks = await this.#kv.watch({ key: keys.acks(this.group, attempt) });
    let wake: () => void = () => {};
    const onEntry = (e: KvEntry, field: 'vote' | 'ack') => {
      if (e.operation !== 'PUT') return;
      const a = answers.get(nodeOfKey(e.key));
      const v = decode<VoteRecord & AckRecord>(e.value);
      if (!a || !v) return;
      if (field === 'vote') a.vote ??= v;
      else a.ack ??= v;
      wake();
    };
    const pump = async (it: AsyncIterable<KvEntry>, field: 'vote' | 'ack') => {
      try {
        for await (const e of it) onEntry(e, field);
      } catch {
        // stopped
      }
    };
    void pump(votes, 'vote');
    void pump(acks, 'ack');
    const wait = (ms: number) =>
      new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    const stopWatches = () => {
      votes.stop();
      acks.stop();
    };
    try {
      // ---- phase 1: prepare ----
      const deadline = Date.now() + timeoutMs;
      const prepare: SlotRecord = {
        ...claim.slot,
        phase: 'prepare',
        nodes: participants,
        deadline,
      };
      try {
        claim.revision = await this.#kv.update(
          keys.slot(this.group),
          encode(prepare),
          claim.revision,
        );
        claim.slot = prepare;
      } catch (e) {
        if (!isCasFailure(e)) throw e;
        return { error: 'conflict', message: `another deploy took the slot over; nothing changed` };
      }
      await options.onPhase?.({
        phase: 'prepare',
        attempt,
        release: to.id,
        nodes: participants,
        deadline,
      });
      const reported = new Set<string>();
      let lastScan = Date.now();
      for (;;) {
        for (const [n, a] of answers) {
          if (a.vote && !reported.has(n)) {
            reported.add(n);
            await options.onPhase?.({
              phase: 'vote',
              node: n,
              vote: a.vote.vote,
              ...(a.vote.error ? { error: a.vote.error } : {}),
              ...(a.vote.reason ? { reason: a.vote.reason } : {}),
            });
          }
        }
        const pending = [...answers].filter(([, a]) => !a.vote && !a.missing);
        const no = [...answers].some(([, a]) => a.vote?.vote === 'no');
        if (no || pending.length === 0) break;
        if (!options.allowMissing && [...answers].some(([, a]) => a.missing)) break;
        if (Date.now() >= deadline) {
          for (const [, a] of pending) a.missing = 'no vote before the deadline';
          break;
        }
        // Who went away (heartbeat stale) will not vote; reading the votes again covers a missed watch.
        if (Date.now() - lastScan >= 500) {
          lastScan = Date.now();
          await this.#rescan(answers, attempt, 'vote').catch(() => {});
          const live = new Set((await this.#liveNodes().catch(() => [])).map((p) => p.name));
          if (live.size > 0)
            for (const [n, a] of pending)
              if (!live.has(n) && !a.vote)
                a.missing = 'went away during prepare (heartbeat stopped)';
        }
        await wait(Math.min(250, Math.max(1, deadline - Date.now())));
      }
      for (const [n, a] of answers)
        if (a.missing && !reported.has(n)) {
          reported.add(n);
          await options.onPhase?.({ phase: 'vote', node: n, vote: 'missing', reason: a.missing });
        }
      const refused = [...answers].filter(([, a]) => a.vote?.vote === 'no');
      const missing = [...answers].filter(([, a]) => !a.vote && a.missing).map(([n]) => n);
      const yes = [...answers].filter(([, a]) => a.vote?.vote === 'yes').map(([n]) => n);
      let abortReason: string | undefined;
      if (refused.length)
        abortReason = refused
          .map(
            ([n, a]) =>
              `${n} refused: ${a.vote!.error}${a.vote!.reason ? ` (${a.vote!.reason})` : ''}`,
          )
          .join('; ');
      else if (missing.length && !options.allowMissing)
        abortReason = `${missing.join(', ')} did not vote (${answers.get(missing[0]!)!.missing}); --allow-missing goes on without them`;
      else if (yes.length === 0) abortReason = 'no node voted yes';

      // ---- phase 2: commit (CAS of current) or abort ----
      if (abortReason === undefined) {
        const committed = await this.#commit(
          cur,
          {
            release: to.id,
            attempt,
            at: Date.now(),
            by: claim.slot.by,
          },
          deadline + SLOT_GRACE_MS,
        );
        if (committed !== true) abortReason = committed;
      }
      if (abortReason !== undefined) {
        await this.#abort(claim, abortReason);
        await options.onPhase?.({ phase: 'abort', release: to.id, reason: abortReason });
        return {
          error: 'aborted',
          release: to.id,
          message: `${kind} of release ${to.id} aborted: ${abortReason}; nothing changed`,
          nodes: participants.map((n) => outcome(n, answers.get(n)!, false)),
        };
      }
      await options.onPhase?.({ phase: 'commit', release: to.id });
      await this.#settle(claim, { ...claim.slot, phase: 'commit' }, Date.now() + timeoutMs);

      // ---- acknowledgements ----
      const ackDeadline = Date.now() + timeoutMs;
      const acked = new Set<string>();
      lastScan = Date.now();
      for (;;) {
        for (const n of yes) {
          const a = answers.get(n)!;
          if (a.ack && !acked.has(n)) {
            acked.add(n);
            await options.onPhase?.({
              phase: 'ack',
              node: n,
              ok: a.ack.ok,
              switchedAt: a.ack.switchedAt,
            });
          }
        }
        if (yes.every((n) => answers.get(n)!.ack)) break;
        if (Date.now() >= ackDeadline) break;
        if (Date.now() - lastScan >= 1000) {
          lastScan = Date.now();
          await this.#rescan(answers, attempt, 'ack').catch(() => {});
        }
        await wait(Math.min(250, Math.max(1, ackDeadline - Date.now())));
      }
      const nodes = participants.map((n) => outcome(n, answers.get(n)!, true));
      const failed = nodes.filter((n) => n.result === 'failed');
      if (failed.length) {
        // Committed, but a node could not switch (its upgrade rolled back there): take the group back.
        const why = failed
          .map((n) => `${n.name}: ${n.error}${n.reason ? ` (${n.reason})` : ''}`)
          .join('; ');
        let rolledBack = false;
        if (kind === 'deploy' && to.parent !== null) {
          stopWatches();
          const back = await this.#autoRollback(to, timeoutMs, claim.slot.by);
          rolledBack = 'ok' in back;
        }
        return {
          error: 'failed',
          release: to.id,
          rolledBack,
          nodes,
          message: `release ${to.id} was committed but failed on ${failed.length} node(s) — ${why}${rolledBack ? `; the group is back on release ${to.parent}` : kind === 'rollback' ? '' : '; there is no parent release to go back to'}`,
        };
      }
      const times = nodes.flatMap((n) =>
        n.switchedAt !== undefined && n.result === 'switched' ? [n.switchedAt] : [],
      );
      return {
        ok: true,
        kind,
        release: to.id,
        from: rollingBackFrom ? rollingBackFrom.id : to.parent,
        modules: rollingBackFrom
          ? Object.keys(to.modules).filter(
              (m) => rollingBackFrom.modules[m]?.hash !== to.modules[m]!.hash,
            )
          : to.changed,
        nodes,
        missing,
        switchedWithinMs: times.length ? Math.max(...times) - Math.min(...times) : 0,
        elapsedMs: Math.round(performance.now() - t0),
        warnings: [],
      };
    } finally {
      stopWatches();
    }
  }

  /** Reads the answers again (a watch can miss entries while NATS restarts). */
  async #rescan(
    answers: Map<string, Answer>,
    attempt: number,
    field: 'vote' | 'ack',
  ): Promise<void> {
    await Promise.all(
      [...answers].map(async ([n, a]) => {
        if (a[field]) return;
        const key =
          field === 'vote' ? keys.vote(this.group, attempt, n) : keys.ack(this.group, attempt, n);
        const v = await this.#get<VoteRecord & AckRecord>(key);
        if (v) {
          if (field === 'vote') a.vote = v.value;
          else a.ack = v.value;
        }
      }),
    );
  }

  /**
   * Moves `current` to the new release by compare-and-swap against the
   * revision the change was planned on. A lost race is `conflict`; a lost
   * connection is retried until `until` (it may have been applied: read back).
   */
  async #commit(
    cur: { value: CurrentRecord; revision: number } | undefined,
    next: CurrentRecord,
    until: number,
  ): Promise<true | string> {
    for (;;) {
      try {
        if (cur === undefined) await this.#kv.create(keys.current(this.group), encode(next));
        else await this.#kv.update(keys.current(this.group), encode(next), cur.revision);
        return true;
      } catch (e) {
        const now = await this.#get<CurrentRecord>(keys.current(this.group)).catch(() => undefined);
        if (now?.value.attempt === next.attempt) return true;
        if (isCasFailure(e))
          return `conflict: release ${now?.value.release ?? '?'} became current first`;
        if (Date.now() > until) return `could not reach NATS to commit (${describe(e)})`;
        await sleep(250);
      }
    }
  }

  /** Marks the slot settled (best effort until `until`: `current` is what counts). */
  async #settle(
    claim: { slot: SlotRecord; revision: number },
    slot: SlotRecord,
    until: number,
  ): Promise<void> {
    while (Date.now() < until) {
      try {
        claim.revision = await this.#kv.update(
          keys.slot(this.group),
          encode(slot),
          claim.revision,
          Math.max(100, until - Date.now()),
        );
        claim.slot = slot;
        return;
      } catch (e) {
        if (isCasFailure(e)) return;
        await sleep(250);
      }
    }
  }

  /** After a commit that failed on some node: `current` back to the parent, in the same two phases. */
  async #autoRollback(
    rel: ReleaseRecord,
    timeoutMs: number,
    by: string,
  ): Promise<ClusterDeployResult> {
    const cur = await this.#get<CurrentRecord>(keys.current(this.group));
    if (!cur || cur.value.release !== rel.id || rel.parent === null)
      return { error: 'conflict', message: 'current moved' };
    return this.#rollbackFrom(rel, rel.parent, cur, by, timeoutMs, {}, performance.now());
  }

  async close(): Promise<void> {
    await this.#gate?.gate.close().catch(() => {});
    this.#gate = undefined;
    await this.#conn.close();
  }
}

function outcome(name: string, a: Answer, committed: boolean): ClusterNodeOutcome {
  const o: ClusterNodeOutcome = { name, result: 'missing' };
  if (a.vote?.preparedMs !== undefined) o.preparedMs = a.vote.preparedMs;
  if (a.vote?.vote === 'no') {
    o.result = 'refused';
    if (a.vote.error) o.error = a.vote.error;
    if (a.vote.reason) o.reason = a.vote.reason;
    return o;
  }
  if (!a.vote) {
    o.reason = a.missing ?? 'no vote';
    return o;
  }
  if (!committed) {
    o.result = 'dropped';
    return o;
  }
  if (!a.ack) {
    o.result = 'unconfirmed';
    o.reason = 'no acknowledgement before the deadline (it converges on current)';
    return o;
  }
  if (!a.ack.ok) {
    o.result = 'failed';
    if (a.ack.error) o.error = a.ack.error;
    if (a.ack.reason) o.reason = a.ack.reason;
    return o;
  }
  o.result = 'switched';
  o.switchedAt = a.ack.switchedAt;
  return o;
}

function checkTimeout(t: unknown, what: string): number {
  if (t === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 100 || t > 3_600_000)
    throw new HotcodeError(
      'badarg',
      `${what}: timeoutMs must be a number of milliseconds, 100 to 3,600,000`,
    );
  return t;
}

/**
 * Connects to a group (S11.2): `deploy`, `rollback`, `nodes`, `close`.
 * Rejects with `nodedown` (NATS unreachable, with its URL) or `auth`.
 *
 * @example
 * const cluster = await connectCluster({ servers: 'nats://127.0.0.1:4222', group: 'web' });
 * const r = await cluster.deploy(['handler'], { src: 'src' });
 * await cluster.close();
 */
export async function connectCluster(options: ClusterOptions): Promise<ClusterClient> {
  const conn = await openCluster(options, 'connectCluster', `hotcode deploy (${defaultBy()})`);
  return new Client(conn);
}
