/**
 * A connection to the cluster's NATS JetStream (S11): the node side and the
 * deploying side both open one. Connecting never retries the first time —
 * an unreachable server is `nodedown` (with the URL), refused credentials
 * `auth`, a server without JetStream `nojetstream` — and afterwards
 * reconnects for ever (a node outlives a restart of nats-server, S11.3).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { HotcodeError } from '../errors.js';
import type { ClusterOptions } from '../types.js';
import { checkGroup, KV_BUCKET, OBJECT_STORE } from './protocol.js';

export type { ClusterOptions };

export interface ClusterConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly kv: KV;
  readonly os: ObjectStore;
  readonly group: string;
  /** The servers as given, for messages. */
  readonly url: string;
  close(): Promise<void>;
}

export function checkClusterOptions(
  opts: unknown,
  what: string,
): Required<Pick<ClusterOptions, 'group'>> & ClusterOptions & { servers: string[] } {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new HotcodeError(
      'badarg',
      `${what}: cluster must be { servers, group?, user?, pass?, token? }`,
    );
  const o = opts as ClusterOptions;
  const servers = typeof o.servers === 'string' ? [o.servers] : o.servers;
  if (
    !Array.isArray(servers) ||
    servers.length === 0 ||
    !servers.every((s) => typeof s === 'string' && s.trim() !== '')
  )
    throw new HotcodeError(
      'badarg',
      `${what}: cluster.servers must be a NATS URL such as nats://127.0.0.1:4222 (or a list of them)`,
    );
  for (const k of ['user', 'pass', 'token'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'string')
      throw new HotcodeError('badarg', `${what}: cluster.${k} must be a string`);
  const group = checkGroup(o.group ?? 'default', what);
  return { ...o, servers, group };
}

/** The URL without credentials, for messages (the password never appears in one). */
function shownUrl(servers: string[]): string {
  return servers.map((s) => s.replace(/\/\/[^@/]*@/, '//')).join(', ');
}

/** Maps a failure to reach or use NATS to a hotcode error that says what to do. */
export function natsError(e: unknown, url: string, what: string): HotcodeError {
  if (e instanceof HotcodeError) return e;
  const name = (e as { name?: unknown })?.name;
  const message = String((e as { message?: unknown })?.message ?? e);
  if (name === 'AuthorizationError' || /authorization|authentication/i.test(message))
    return new HotcodeError(
      'auth',
      `${what}: NATS at ${url} refused the credentials (${message}); check cluster user/pass or token`,
      { cause: e },
    );
  if (/jetstream not enabled|JetStream.*not.*enabled|no responders/i.test(message))
    return new HotcodeError(
      'nojetstream',
      `${what}: NATS at ${url} has no JetStream (${message}); start it with nats-server -js`,
      { cause: e },
    );
  return new HotcodeError(
    'nodedown',
    `${what}: cannot reach NATS at ${url} (${message}); is nats-server -js running there?`,
    { cause: e },
  );
}

/** Connects, and opens (creating if needed) the bucket and the object store. */
export async function openCluster(
  options: ClusterOptions,
  what: string,
  clientName: string,
  /** How long one request to JetStream may take before it fails (and may be retried). */
  requestTimeoutMs = 5000,
): Promise<ClusterConnection> {
  const o = checkClusterOptions(options, what);
  const url = shownUrl(o.servers);
  // The NATS client loads only in a process that uses a cluster (~100 ms of imports).
  const [{ connect }, { jetstream }, { Kvm }, { Objm }] = await Promise.all([
    import('@nats-io/transport-node'),
    import('@nats-io/jetstream'),
    import('@nats-io/kv'),
    import('@nats-io/obj'),
  ]);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: o.servers,
      name: clientName,
      timeout: 3000,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 5000,
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.pass !== undefined ? { pass: o.pass } : {}),
      ...(o.token !== undefined ? { token: o.token } : {}),
    });
  } catch (e) {
    throw natsError(e, url, what);
  }
  try {
    const js = jetstream(nc, { timeout: requestTimeoutMs });
    const kv = await new Kvm(js).create(KV_BUCKET, { history: 1, timeout: requestTimeoutMs });
    const os = await new Objm(js).create(OBJECT_STORE, { description: 'hotcode object files' });
    return {
      nc,
      js,
      kv,
      os,
      group: o.group,
      url,
      close: async () => {
        if (!nc.isClosed()) await nc.close().catch(() => {});
      },
    };
  } catch (e) {
    await nc.close().catch(() => {});
    throw natsError(e, url, what);
  }
}

/** Is this a compare-and-swap that lost (`wrong last sequence`)? */
export function isCasFailure(e: unknown): boolean {
  return /wrong last sequence|key exists/i.test(String((e as { message?: unknown })?.message ?? e));
}
